package dev.vecnorm.internal;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.locks.LockSupport;

/**
 * One parallel loop over chunks {@code 0 .. count-1}: the calling thread and any number of helpers
 * claim chunk indices from one counter, so the caller never waits for a helper that has not started
 * (it runs the chunks itself, as OpenMP runtimes let the master thread work), and a helper that starts
 * after the loop is over does nothing.
 *
 * <p>Participant {@code p} of {@code P} (the caller is 0) first claims chunks from its own contiguous
 * range, {@code [p*count/P, (p+1)*count/P)}, then from the others': successive loops over the same
 * tensor (moments, then normalize) give each thread the same part again while it is still in its own
 * cache. Which thread runs a chunk never changes a result.
 *
 * <p>Lifecycle, owned by one caller at a time: {@link #open} publishes the body; helpers run
 * {@link #help}; the caller runs {@link #runAsCaller}, then {@link #finish}, which waits until every
 * helper that entered has left and bars late ones. Only then may the body's data change, so a call
 * that returns (or throws) leaves nothing of it running.
 */
public final class ChunkJob {

  /** The work of one chunk; must not block on other chunks. */
  public interface Body {
    void run(int chunk);
  }

  /** {@link #active} while no loop is open: {@link #help} cannot enter. */
  private static final int CLOSED = Integer.MIN_VALUE;

  /** Ints between two range cursors: one cache line each, so participants do not contend on claims. */
  private static final int PAD = 16;

  private final int participants;
  /** Next unclaimed chunk of range r at index r * PAD. */
  private final AtomicIntegerArray cursors;
  private final AtomicInteger helperIds = new AtomicInteger();
  /** Helpers inside the loop, or CLOSED. Fields below are read only while inside. */
  private final AtomicInteger active = new AtomicInteger(CLOSED);
  private Body body;
  private int count;
  private volatile Throwable failure;
  /** The caller parked in {@link #finish}, for the last helper to wake. */
  private volatile Thread waiter;

  /** Runs {@link #help} as the next helper; allocated once so submitting to an executor needs no lambda per call. */
  public final Runnable helper = () -> help(1 + helperIds.getAndIncrement() % Math.max(1, participantCount() - 1));

  /** A loop for the caller and up to {@code participants - 1} helpers. */
  public ChunkJob(int participants) {
    if (participants < 1) throw new IllegalArgumentException("participants must be >= 1, got " + participants);
    this.participants = participants;
    this.cursors = new AtomicIntegerArray(participants * PAD);
  }

  private int participantCount() {
    return participants;
  }

  private int rangeStart(int r) {
    return (int) ((long) r * count / participants);
  }

  /** Publishes a loop; the caller must own this job (no other loop open). */
  public void open(Body body, int count) {
    this.body = body;
    this.count = count;
    this.failure = null;
    // Release stores: the volatile write of active below publishes them (a fence per cursor bought nothing).
    for (int r = 0; r < participants; r++) cursors.lazySet(r * PAD, rangeStart(r));
    active.set(0); // volatile write: helpers that enter after it see the fields above
  }

  /**
   * Runs chunks of the open loop as participant {@code id}, if any; returns at once when the loop is over or closed.
   *
   * @return true when this helper ran every chunk of a loop of two or more: the caller, which claims its
   *     first chunk right after opening the loop, did not run during the whole loop (see {@link SpinPool})
   */
  public boolean help(int id) {
    for (int a; (a = active.get()) >= 0; ) {
      if (active.compareAndSet(a, a + 1)) {
        try {
          int ran = runChunks(id % participants);
          return ran == count && ran > 1; // count is this loop's while we are inside it
        } finally {
          // Dekker with finish(): it publishes waiter, then re-reads active; we write active, then read waiter.
          if (active.decrementAndGet() == 0) {
            Thread w = waiter;
            if (w != null) LockSupport.unpark(w);
          }
        }
      }
    }
    return false;
  }

  public void runAsCaller() {
    runChunks(0);
  }

  /**
   * Own range first, then the others' in turn; every index comes out of exactly one range cursor once.
   * A cursor is read before it is claimed: a participant that has run its range's last chunk, or finds
   * another's range done, reads the line instead of taking it with an atomic add. On two threads each
   * loop's end otherwise paid such a claim on the critical path, and the last finisher's claim on the
   * other range's cursor had to fetch that line from the other core first (eleventh session's trace: a
   * loop's join took 0.5-0.8 µs after its last chunk, three loops per training forward).
   */
  private int runChunks(int id) {
    Body b = body;
    int ran = 0;
    for (int k = 0; k < participants; k++) {
      int r = (id + k) % participants, end = rangeStart(r + 1), at = r * PAD;
      for (int i; cursors.get(at) < end && (i = cursors.getAndIncrement(at)) < end; ran++) {
        if (failure != null) return ran; // another chunk failed: the call will throw, skip the rest
        try {
          b.run(i);
        } catch (Throwable t) {
          synchronized (this) {
            if (failure == null) failure = t;
          }
        }
      }
    }
    return ran;
  }

  /**
   * Waits (without being interruptible: chunks are bounded work) until every helper has left, closes
   * the loop, then rethrows the first chunk failure. After it returns nothing touches the body's data.
   */
  public void finish() {
    // A helper is finishing its last chunk: spin briefly (it is usually running), then park so that a
    // helper preempted on a busy machine gets this core instead of a spinning caller.
    for (int spins = 0; spins < 2_000; spins++) {
      // Read, then CAS: a CAS per spin would hold the line the helper's leaving decrement needs.
      if (active.get() == 0 && active.compareAndSet(0, CLOSED)) {
        done();
        return;
      }
      Thread.onSpinWait();
    }
    boolean interrupted = Thread.interrupted(); // park returns at once while interrupted: clear, restore below
    waiter = Thread.currentThread();
    while (!active.compareAndSet(0, CLOSED)) LockSupport.park(this);
    waiter = null;
    if (interrupted) Thread.currentThread().interrupt();
    done();
  }

  private void done() {
    body = null;
    Throwable t = failure;
    failure = null;
    if (t instanceof RuntimeException re) throw re;
    if (t instanceof Error e) throw e;
    if (t != null) throw new IllegalStateException(t);
  }

  /** Runs the whole loop on the calling thread (one chunk, or no helpers available). */
  public static void runInline(Body body, int count) {
    for (int i = 0; i < count; i++) body.run(i);
  }
}
