//go:build !unix

package audit

import "time"

// processCPU is not measured here: the cpu-ns metrics read 0.
func processCPU() time.Duration { return 0 }

// processCPUOf is not measured here.
func processCPUOf(int) (time.Duration, bool) { return 0, false }
