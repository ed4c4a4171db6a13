package memlog_test

import (
	"testing"

	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/eventstore/logtest"
	"github.com/assetanchor/assetanchor/eventstore/memlog"
)

func TestConformance(t *testing.T) {
	logtest.Run(t, func(*testing.T) eventstore.Log { return memlog.New() })
}
