package e2e

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The book (docs/book) keeps two promises, and these tests hold it to them:
//
//   - Every file and every function a chapter names exists. A chapter
//     names code in inline code spans: a path like `tcp/input.go`, or an
//     identifier like `tcp.Dial`, `tcp.Conn.Input` or `stack.(*Stack).Listen`
//     (package, then a top-level name, then a method). TestBookNamesRealCode
//     parses the packages and fails on a name that is gone, with the
//     chapter and line. It runs in `make test`.
//   - Every transcript and figure comes from a real run. A chapter marks a
//     transcript with
//
//     <!-- transcript: NAME -->
//     ...
//     <!-- /transcript -->
//
//     and a generator of the same name (bookTranscripts) produces its text
//     by running tinytcp against the kernel in a fresh namespace, as the
//     reader would. `make docs` (TestBookRegenerate with -update-book)
//     runs every generator and rewrites what lies between the markers.
//     TestBookTranscriptsHaveGenerators, in `make test`, checks that the
//     markers and the generators match one for one.

// updateBook makes TestBookRegenerate rewrite the transcripts.
var updateBook = flag.Bool("update-book", false, "regenerate the book's transcripts from real runs (make docs)")

// bookDir is where the chapters live, from this package's directory.
const bookDir = "../../docs/book"

// transcripts are the generators of one chapter's transcripts, by name.
// A generator runs what the chapter describes and returns the text to put
// between the markers (a fenced code block, usually).
type transcripts map[string]func(t *testing.T) string

// bookTranscripts merges every chapter's generators.
func bookTranscripts() transcripts {
	all := transcripts{}
	for _, ch := range []transcripts{bookChapterTranscripts, bookTranscriptsA, bookTranscriptsB} {
		for name, gen := range ch {
			all[name] = gen
		}
	}
	return all
}

// bookChapterTranscripts is filled by the chapters' generator files; the
// empty set keeps the book's machinery testable before any chapter has a
// transcript.
var bookChapterTranscripts = transcripts{}

// chapters returns the chapter files in order.
func chapters(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(bookDir, "*.md"))
	require.NoError(t, err)
	sort.Strings(files)
	return files
}

var (
	codeSpan     = regexp.MustCompile("`([^`\n]+)`")
	goFileRef    = regexp.MustCompile(`^((?:tun|ip|tcp|stack|cmd|tests)/[\w./-]+\.go)$`)
	goIdentRef   = regexp.MustCompile(`^(tun|ip|tcp|stack|demo|inspect|netns)\.(?:\(\*(\w+)\)|(\w+))(?:\.(\w+))?(?:\(\))?$`)
	transcriptRE = regexp.MustCompile(`(?s)<!-- transcript: ([\w-]+) -->\n(.*?)<!-- /transcript -->`)
)

// packageDirs maps the package names a chapter may use to their directories.
var packageDirs = map[string]string{
	"tun": "tun", "ip": "ip", "tcp": "tcp", "stack": "stack",
	"demo": "cmd/demo", "inspect": "cmd/inspect", "netns": "tests/netns",
}

// declared is the set of top-level names ("Conn") and methods
// ("Conn.Input") of one package, tests excluded.
func declared(t *testing.T, dir string) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	pkgs, err := parser.ParseDir(token.NewFileSet(), filepath.Join("../..", dir), func(fi os.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, 0)
	require.NoError(t, err, dir)
	for _, p := range pkgs {
		for _, f := range p.Files {
			for _, d := range f.Decls {
				switch d := d.(type) {
				case *ast.FuncDecl:
					if d.Recv == nil {
						names[d.Name.Name] = true
						continue
					}
					recv := d.Recv.List[0].Type
					if s, ok := recv.(*ast.StarExpr); ok {
						recv = s.X
					}
					if id, ok := recv.(*ast.Ident); ok {
						names[id.Name+"."+d.Name.Name] = true
					}
				case *ast.GenDecl:
					for _, s := range d.Specs {
						switch s := s.(type) {
						case *ast.TypeSpec:
							names[s.Name.Name] = true
						case *ast.ValueSpec:
							for _, n := range s.Names {
								names[n.Name] = true
							}
						}
					}
				}
			}
		}
	}
	return names
}

func TestBookNamesRealCode(t *testing.T) {
	files := chapters(t)
	require.NotEmpty(t, files, "no chapters in %s", bookDir)
	decls := map[string]map[string]bool{}
	checked := 0
	for _, file := range files {
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		for i, line := range strings.Split(string(b), "\n") {
			for _, m := range codeSpan.FindAllStringSubmatch(line, -1) {
				ref := m[1]
				where := fmt.Sprintf("%s:%d: %s", filepath.Base(file), i+1, ref)
				if f := goFileRef.FindStringSubmatch(ref); f != nil {
					_, err := os.Stat(filepath.Join("../..", f[1]))
					assert.NoError(t, err, "%s names a file that does not exist", where)
					checked++
					continue
				}
				id := goIdentRef.FindStringSubmatch(ref)
				if id == nil {
					continue
				}
				pkg, name, method := id[1], id[2]+id[3], id[4]
				if decls[pkg] == nil {
					decls[pkg] = declared(t, packageDirs[pkg])
				}
				full := name
				if method != "" {
					full = name + "." + method
				}
				assert.True(t, decls[pkg][full], "%s names %s.%s, which package %s does not declare", where, pkg, full, pkg)
				checked++
			}
		}
	}
	t.Logf("%d chapters, %d references to code checked", len(files), checked)
}

func TestBookTranscriptsHaveGenerators(t *testing.T) {
	gens := bookTranscripts()
	seen := map[string]string{}
	for _, file := range chapters(t) {
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		for _, m := range transcriptRE.FindAllStringSubmatch(string(b), -1) {
			name := m[1]
			if prev, dup := seen[name]; dup {
				t.Errorf("transcript %q is marked twice (%s and %s)", name, prev, filepath.Base(file))
			}
			seen[name] = filepath.Base(file)
			assert.Contains(t, gens, name, "%s marks transcript %q, which no generator makes", filepath.Base(file), name)
		}
	}
	for name := range gens {
		assert.Contains(t, seen, name, "generator %q has no transcript marker in any chapter", name)
	}
}

// TestBookRegenerate is `make docs`: it runs every generator against the
// kernel and rewrites the chapters' transcripts. Without -update-book it
// does nothing, so that `make test` (which runs every test) does not
// rewrite the book.
func TestBookRegenerate(t *testing.T) {
	if !*updateBook {
		t.Skip("regenerates the book: make docs (-update-book)")
	}
	gens := bookTranscripts()
	out := map[string]string{}
	for name, gen := range gens {
		t.Run(name, func(t *testing.T) {
			text := gen(t)
			require.NotEmpty(t, strings.TrimSpace(text), "generator %q made nothing", name)
			if !strings.HasSuffix(text, "\n") {
				text += "\n"
			}
			out[name] = text
		})
	}
	for _, file := range chapters(t) {
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		fresh := transcriptRE.ReplaceAllStringFunc(string(b), func(block string) string {
			name := transcriptRE.FindStringSubmatch(block)[1]
			text, ok := out[name]
			if !ok {
				return block
			}
			return fmt.Sprintf("<!-- transcript: %s -->\n%s<!-- /transcript -->", name, text)
		})
		if fresh != string(b) {
			require.NoError(t, os.WriteFile(file, []byte(fresh), 0o644))
			t.Logf("rewrote %s", filepath.Base(file))
		}
	}
}
