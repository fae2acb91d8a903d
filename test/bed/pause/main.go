// The test bed's pod sandbox ("pause") process: it holds the pod's namespaces, reaps orphaned
// children (it is PID 1 of the pod's PID namespace when one is shared) and exits on SIGINT/SIGTERM.
// Built by build-binaries.sh into a local OCI image so no test host ever pulls one from a registry.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 8)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sig {
		if s == syscall.SIGCHLD {
			for {
				var ws syscall.WaitStatus
				pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
			continue
		}
		os.Exit(0)
	}
}
