//go:build linux

package tun

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"tinytcp/tests/netns"
)

func TestWater(t *testing.T) {
	testBackend(t, DriverWater)
}

func TestWaterIsChosenByDriver(t *testing.T) {
	ns := netns.New(t)
	dev := openInNS(t, ns, Config{Driver: DriverWater, Name: "tt0"})
	assert.IsType(t, &waterDevice{}, dev)
}
