package dev.vecnorm.internal;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;

/**
 * One {@link ChunkJob} loop on a caller's executor, for the parallel entry points that accept one
 * instead of owning a {@link SpinPool}. The caller submits helpers, then runs chunks itself, so it never
 * waits for a helper that has not started: a call from a task of the very executor it uses cannot
 * deadlock on a saturated pool, and a rejected helper is no error (the caller runs its chunks).
 */
public final class ExecutorLoop {

  private ExecutorLoop() {}

  /**
   * Runs {@code body} over chunks {@code 0 .. count-1} on the caller and up to {@code helpers} tasks of
   * {@code executor}; returns when every chunk is done and no helper touches the body any more,
   * rethrowing the first chunk failure. Helpers that never started are cancelled.
   *
   * @param job owned by this call, with at least {@code helpers + 1} participants
   * @param futures room for {@code helpers} futures, reused across calls; left all null
   */
  public static void run(ChunkJob job, ChunkJob.Body body, int count, ExecutorService executor, int helpers, Future<?>[] futures) {
    job.open(body, count);
    int submitted = 0;
    try {
      for (; submitted < helpers; submitted++) futures[submitted] = executor.submit(job.helper);
    } catch (RejectedExecutionException e) {
      // Saturated or shut down: the chunks are all still claimable by this thread.
    }
    try {
      job.runAsCaller();
    } finally {
      for (int i = 0; i < submitted; i++) {
        futures[i].cancel(false);
        futures[i] = null;
      }
      job.finish(); // waits for helpers inside the loop; late ones find it closed
    }
  }
}
