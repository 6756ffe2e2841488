package dev.vecnorm.internal;

import java.util.Objects;
import java.util.concurrent.ExecutorService;

/**
 * The threads of one parallel facade ({@code ParallelBatchNorm}, {@code ParallelNorms}) and their
 * lifecycle: either owned {@link SpinPool} workers or a caller's executor, the thread count, and the
 * closed flag that every operation checks first. One place, so both facades validate, run and close
 * their threads the same way.
 */
public final class ThreadTeam implements AutoCloseable {

  /** Most threads per call: a {@link SpinPool} holds at most 31 workers besides the caller. */
  public static final int MAX_THREADS = 32;

  private final SpinPool pool; // owned workers, or null with an executor
  private final ExecutorService executor;
  private final int threads;
  private final String owner;
  private volatile boolean closed;

  private ThreadTeam(SpinPool pool, ExecutorService executor, int threads, String owner) {
    this.pool = pool;
    this.executor = executor;
    this.threads = threads;
    this.owner = owner;
  }

  /**
   * {@code threads} threads in all: the caller and {@code threads - 1} owned daemon workers.
   *
   * @param threads 1 to {@value #MAX_THREADS}
   * @param owner the facade's class name, for messages and worker names
   * @param workerName the workers' thread name prefix
   */
  public static ThreadTeam owned(int threads, String owner, String workerName) {
    if (threads < 1 || threads > MAX_THREADS) {
      throw new IllegalArgumentException("threads must be in [1, " + MAX_THREADS + "], got " + threads);
    }
    return new ThreadTeam(new SpinPool(threads - 1, workerName), null, threads, owner);
  }

  /** The caller's executor (never shut down here), with up to {@link #availableThreads()} threads per call. */
  public static ThreadTeam on(ExecutorService executor, String owner) {
    return new ThreadTeam(null, Objects.requireNonNull(executor, "executor"), availableThreads(), owner);
  }

  /** The machine's processors, at most {@value #MAX_THREADS}. */
  public static int availableThreads() {
    return Math.min(MAX_THREADS, Runtime.getRuntime().availableProcessors());
  }

  public int threads() {
    return threads;
  }

  /** A call's loop on the executor, or null with owned workers (they need none). */
  public ExecutorLoop newLoop() {
    return executor == null ? null : new ExecutorLoop(executor, threads);
  }

  /** Runs {@code body} over chunks {@code 0 .. count-1}, as {@link ExecutorLoop#run(ChunkJob.Body, int, boolean, SpinPool, ExecutorLoop)}. */
  public void run(ChunkJob.Body body, int count, boolean callerOnly, ExecutorLoop loop) {
    ExecutorLoop.run(body, count, callerOnly, pool, loop);
  }

  /** Throws {@link IllegalStateException} once {@link #close()} was called. */
  public void ensureOpen() {
    if (closed) throw new IllegalStateException("this " + owner + " is closed");
  }

  /** Stops the owned workers (a caller's executor is left running); later {@link #ensureOpen()} calls throw. Idempotent. */
  @Override
  public void close() {
    closed = true;
    if (pool != null) pool.close();
  }
}
