// fork while other threads allocate: FORKS children, each allocating and freeing in the
// child before exiting; the last child keeps LEAK_MB MiB allocated and lives LINGER seconds
// (long enough to report under its own pid). An alarm turns a deadlock into a failure.
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int stop;

static void *busy(void *arg) {
  (void)arg;
  unsigned long i = 0;
  while (!stop) {
    void *p = malloc(64 + (i++ % 4096));
    free(p);
  }
  return NULL;
}

__attribute__((noinline)) static void child_leak(int mb) {
  for (int i = 0; i < mb * 16; i++) memset(malloc(65536), 1, 65536);
}

int main(int argc, char **argv) {
  int forks = argc > 1 ? atoi(argv[1]) : 100;
  double linger = argc > 2 ? atof(argv[2]) : 2;
  alarm(120);
  pthread_t t[4];
  for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, busy, NULL);
  for (int k = 0; k < forks; k++) {
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 1; }
    if (pid == 0) {
      alarm(60);
      for (int i = 0; i < 1000; i++) free(malloc(100 + i));
      if (k == forks - 1) {
        printf("pid %d\n", getpid());
        fflush(stdout);
        child_leak(8);
        usleep((useconds_t)(linger * 1e6));
      }
      _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "child %d failed: status %d\n", pid, status);
      return 1;
    }
  }
  stop = 1;
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  printf("forked %d\n", forks);
  return 0;
}
