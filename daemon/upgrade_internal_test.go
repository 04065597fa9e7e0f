package daemon

import (
	"encoding/json"
	"testing"
)

// An IRC client's capabilities move by name: a record written by a build
// that numbers them otherwise (here one whose bits would read as
// draft/chathistory and sasl) gives the new process the capabilities the
// client asked for, and a record of a build from before the names gives
// its bits as they are.
func TestUpgradeRecordCapsByName(t *testing.T) {
	for _, tc := range []struct {
		name   string
		record string
		want   uint64
	}{
		{"OK", `{"caps": 16896, "cap_names": ["server-time", "batch", "no-such-cap"]}`, capServerTime | capBatch},
		{"OlderRecord", `{"caps": 1025}`, capServerTime | capBatch},
		{"NoCaps", `{"caps": 0}`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ir ircRecord
			if err := json.Unmarshal([]byte(tc.record), &ir); err != nil {
				t.Fatal(err)
			}
			if got := ir.capBits(); got != tc.want {
				t.Fatalf("capBits = %b (%q), want %b (%q)", got, capNames(got), tc.want, capNames(tc.want))
			}
		})
	}
	// What a process writes reads back the same.
	caps := capServerTime | capMetadata | capAccountNotify
	data, err := json.Marshal(&ircRecord{Caps: caps, CapNames: capNames(caps)})
	if err != nil {
		t.Fatal(err)
	}
	var ir ircRecord
	if err := json.Unmarshal(data, &ir); err != nil || ir.capBits() != caps {
		t.Fatalf("round trip of %s: %b, %v", data, ir.capBits(), err)
	}
}
