package dev.vecnorm.internal;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;

/**
 * One call's {@link ChunkJob} loop on a caller's executor, for the parallel entry points that accept one
 * instead of owning a {@link SpinPool}, and the one place both kinds of entry point choose how a call's
 * chunks run ({@link #run(ChunkJob.Body, int, boolean, SpinPool, ExecutorLoop)}). On an executor the
 * caller submits helpers, then runs chunks itself, so it never waits for a helper that has not started:
 * a call from a task of the very executor it uses cannot deadlock on a saturated pool, and a rejected
 * helper is no error (the caller runs its chunks).
 *
 * <p>An instance belongs to one call at a time (a parallel class's per-call state): it holds the loop
 * and its helpers' futures, reused by the next call.
 */
public final class ExecutorLoop {

  private final ExecutorService executor;
  private final ChunkJob job;
  /** Room for the helpers' futures, reused across calls; all null between calls. */
  private final Future<?>[] futures;

  /**
   * @param executor runs the helper chunks
   * @param threads participants at most, the caller included
   */
  public ExecutorLoop(ExecutorService executor, int threads) {
    this.executor = executor;
    this.job = new ChunkJob(threads);
    this.futures = new Future<?>[threads - 1];
  }

  /**
   * Runs {@code body} over chunks {@code 0 .. count-1}: on the caller alone when there is at most one
   * chunk or {@code callerOnly} (a segment only this thread may touch), else on {@code pool}'s workers
   * when there is a pool, else on {@code loop}'s executor.
   */
  public static void run(ChunkJob.Body body, int count, boolean callerOnly, SpinPool pool, ExecutorLoop loop) {
    if (count <= 1 || callerOnly) {
      ChunkJob.runInline(body, count);
    } else if (pool != null) {
      pool.run(body, count);
    } else {
      loop.run(body, count);
    }
  }

  /**
   * Runs {@code body} over chunks {@code 0 .. count-1} on the caller and up to {@code threads - 1} tasks
   * of the executor; returns when every chunk is done and no helper touches the body any more,
   * rethrowing the first chunk failure. Helpers that never started are cancelled.
   */
  void run(ChunkJob.Body body, int count) {
    int helpers = Math.min(futures.length + 1, count) - 1, submitted = 0;
    job.open(body, count);
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
