// Allocates, then replaces itself with a shell that prints LD_PRELOAD and whether the
// profiler is mapped into the programs it runs.
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void) {
  for (int i = 0; i < 1000; i++) memset(malloc(4096), 0, 4096);
  execl("/bin/sh", "sh", "-c",
        "echo \"LD_PRELOAD=$LD_PRELOAD\"; echo \"mapped=$(grep -c leakhound_preload /proc/self/maps)\"",
        (char *)NULL);
  return 127;
}
