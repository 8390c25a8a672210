package e2e

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSessionCounterWithCookieJar is /session as a browser sees it: curl
// with a cookie jar sends the cookie back and the server's counter goes on;
// without the jar every request is a stranger's first.
func TestSessionCounterWithCookieJar(t *testing.T) {
	t.Parallel()
	h := upHost(t)
	jar := filepath.Join(t.TempDir(), "jar")
	curl := func(args ...string) string {
		return string(h.run(t, "curl", append([]string{"-sS", "--fail", "--max-time", "30"}, args...)...))
	}

	first := curl("-i", "-c", jar, "-b", jar, stackURL+"/session")
	setCookie := regexp.MustCompile(`(?im)^Set-Cookie: session=([0-9a-f]{32}); Path=/; HttpOnly; SameSite=Lax\r?$`).FindStringSubmatch(first)
	require.NotNil(t, setCookie, "got %q, want a Set-Cookie with HttpOnly and SameSite=Lax", first)
	id := setCookie[1]
	assert.Contains(t, first, "visits=1 session="+id[:8])

	second := curl("-i", "-c", jar, "-b", jar, stackURL+"/session")
	assert.Contains(t, second, "visits=2 session="+id[:8], "the jar sent the cookie back")
	assert.NotContains(t, strings.ToLower(second), "set-cookie", "a known session needs no new cookie")

	// No jar: a new session each time.
	for i := 0; i < 2; i++ {
		out := curl(stackURL + "/session")
		assert.Regexp(t, `^visits=1 session=[0-9a-f]{8}\n$`, out)
		assert.NotContains(t, out, id[:8])
	}

	// An unknown cookie is a new session too, not an error.
	out := curl("-b", "session=00000000000000000000000000000000", stackURL+"/session")
	assert.Regexp(t, `^visits=1 session=[0-9a-f]{8}\n$`, out)
}
