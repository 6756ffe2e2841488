package dev.vecnorm.internal;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;

/**
 * Worker threads that spin briefly before parking, for loops too short to pay for waking a parked
 * thread: unparking costs ~60-70 µs on a small VM, more than a whole batch norm over 1 MiB. After a
 * loop a worker keeps polling for {@link #SPIN_NANOS} (a training step's next call usually arrives
 * within that), then parks; {@link #run} unparks only workers that parked. The caller runs chunks too,
 * so {@code threads} parallelism needs {@code threads - 1} workers.
 *
 * <p>One loop at a time: a caller that finds the workers busy (another thread's call) runs its loop
 * alone on its own thread instead of waiting, so concurrent callers never block each other.
 */
public final class SpinPool implements AutoCloseable {

  /** How long an idle worker polls before parking; long enough to span the gap between two calls. */
  static final long SPIN_NANOS = Long.getLong("vecnorm.spinMicros", 100) * 1_000;

  private final Thread[] workers;
  /** SPIN_NANOS, or 0 when caller and workers outnumber the processors: spinning would then steal their time. */
  private final long spinNanos;
  private final ChunkJob job;
  private final AtomicBoolean busy = new AtomicBoolean();
  private volatile long epoch;
  private volatile int parked; // bit w: worker w is parked or about to park
  private volatile boolean shutdown;

  public SpinPool(int workerCount, String name) {
    if (workerCount > 31) throw new IllegalArgumentException("at most 31 workers, got " + workerCount);
    workers = new Thread[workerCount];
    job = new ChunkJob(workerCount + 1);
    spinNanos = workerCount + 1 <= Runtime.getRuntime().availableProcessors() ? SPIN_NANOS : 0;
    for (int w = 0; w < workerCount; w++) {
      int id = w;
      workers[w] = Thread.ofPlatform().daemon().name(name + "-" + w).unstarted(() -> work(id));
    }
    for (Thread t : workers) t.start();
  }

  public int workers() {
    return workers.length;
  }

  /** True when {@code t} is one of this pool's workers. */
  public boolean isWorker(Thread t) {
    for (Thread w : workers) if (w == t) return true;
    return false;
  }

  /**
   * Runs {@code body} over chunks {@code 0 .. count-1} on the caller and the workers; returns when
   * every chunk is done and no worker touches the body any more, rethrowing the first chunk failure.
   */
  public void run(ChunkJob.Body body, int count) {
    if (count <= 1 || workers.length == 0 || shutdown || !busy.compareAndSet(false, true)) {
      ChunkJob.runInline(body, count);
      return;
    }
    try {
      job.open(body, count);
      epoch = epoch + 1; // only the busy owner writes epoch
      int p = parked;
      if (p != 0) {
        for (int w = 0; w < workers.length; w++) if ((p & (1 << w)) != 0) LockSupport.unpark(workers[w]);
      }
      job.runAsCaller();
      job.finish();
    } finally {
      busy.set(false);
    }
  }

  private void work(int id) {
    long seen = 0;
    int bit = 1 << id;
    boolean callerAway = false;
    while (!shutdown) {
      long e = epoch;
      if (e != seen) {
        seen = e;
        callerAway = job.help(id + 1); // the caller is participant 0
        continue;
      }
      // Idle: poll for the next loop, then park. Dekker with run(): set the parked bit, re-read
      // epoch; run() writes epoch, then reads the bits, so one of the two sees the other.
      // After a loop this worker ran alone, it yields between polls: the caller opened that loop and
      // then did not run for a whole chunk, mostly because it waits for this very processor (the
      // host's other vCPU busy, unpark() woke the worker onto the caller's vCPU and it took it over).
      // Twelfth session's trace, NC 256x1024 under other builds: up to 3-4% of calls ran every loop
      // on the worker, each loop followed by its whole 100 µs spin with the caller unable to run,
      // 400-460 µs a call against ~100 on one thread; with the yield such calls went from 1356 to 88
      // in 120k (from 2498 to 143 beside a niced busy loop), though more calls then ran on the
      // caller alone, until the scheduler moves the runnable worker to the other vCPU. (Parking at
      // once instead, and the caller leaving such a worker parked for a while, kept the pair on one
      // vCPU: ~110 µs calls; not kept.)
      long deadline = System.nanoTime() + spinNanos;
      boolean yielding = callerAway;
      callerAway = false;
      for (int i = 1; epoch == seen && !shutdown; i++) {
        if (yielding) Thread.yield();
        else Thread.onSpinWait();
        if ((i & 63) == 0 && System.nanoTime() > deadline) break; // the clock costs more than a pause
      }
      if (epoch != seen || shutdown) continue;
      setParked(bit, true);
      if (epoch == seen && !shutdown) LockSupport.park(this);
      setParked(bit, false);
    }
  }

  private synchronized void setParked(int bit, boolean on) {
    parked = on ? parked | bit : parked & ~bit;
  }

  /** Stops the workers after their current loop; later {@link #run} calls run on the caller. */
  @Override
  public void close() {
    shutdown = true;
    for (Thread t : workers) LockSupport.unpark(t);
  }
}
