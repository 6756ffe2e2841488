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
 * <p>A loop may have several phases ({@link Phases}): every index of phase k completes before any index
 * of phase k+1 starts, and each participant goes from one phase to the next by itself (it claims the
 * next phase's indices as soon as the last index of this one is done), so an operation of dependent
 * steps (moments, their merge, normalization) costs one hand-off to the helpers instead of one per
 * step. A participant waits only for indices another participant has claimed and is running, never
 * for one that has not started: the caller can still run the whole loop alone.
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

  /** The work of index {@code index} of phase {@code phase}; must not block on other indices. */
  public interface Phases {
    void run(int phase, int index);
  }

  /** Most phases one loop may have. */
  public static final int MAX_PHASES = 4;

  /** {@link #active} while no loop is open: {@link #help} cannot enter. */
  private static final int CLOSED = Integer.MIN_VALUE;

  /** Ints between two range cursors: one cache line each, so participants do not contend on claims. */
  private static final int PAD = 16;

  private final int participants;
  /** Next unclaimed index of phase k's range r at (k * participants + r) * PAD. */
  private final AtomicIntegerArray cursors;
  /** Indices of phase k completed (run or failed) at k * PAD: the phase barrier. */
  private final AtomicIntegerArray completed = new AtomicIntegerArray(MAX_PHASES * PAD);
  private final AtomicInteger helperIds = new AtomicInteger();
  /** Helpers inside the loop, or CLOSED. Fields below are read only while inside. */
  private final AtomicInteger active = new AtomicInteger(CLOSED);
  private Body body;
  private Phases phased;
  private int phases;
  /** Index count of each phase (a single-phase loop: counts[0]). */
  private final int[] counts = new int[MAX_PHASES];
  private volatile Throwable failure;
  /** The caller parked in {@link #finish}, for the last helper to wake. */
  private volatile Thread waiter;

  /** Runs {@link #help} as the next helper; allocated once so submitting to an executor needs no lambda per call. */
  public final Runnable helper = () -> help(1 + helperIds.getAndIncrement() % Math.max(1, participantCount() - 1));

  /** A loop for the caller and up to {@code participants - 1} helpers. */
  public ChunkJob(int participants) {
    if (participants < 1) throw new IllegalArgumentException("participants must be >= 1, got " + participants);
    this.participants = participants;
    this.cursors = new AtomicIntegerArray(MAX_PHASES * participants * PAD);
  }

  private int participantCount() {
    return participants;
  }

  private int rangeStart(int count, int r) {
    return (int) ((long) r * count / participants);
  }

  /** Publishes a loop; the caller must own this job (no other loop open). */
  public void open(Body body, int count) {
    this.body = body;
    this.phased = null;
    this.counts[0] = count;
    publish(1);
  }

  /**
   * Publishes a loop of {@code phases} phases, phase k having {@code counts[k]} indices (0 allowed);
   * the caller must own this job (no other loop open).
   */
  public void open(Phases body, int[] counts, int phases) {
    if (phases < 1 || phases > MAX_PHASES) throw new IllegalArgumentException("phases must be in [1, " + MAX_PHASES + "], got " + phases);
    this.body = null;
    this.phased = body;
    System.arraycopy(counts, 0, this.counts, 0, phases);
    publish(phases);
  }

  private void publish(int phases) {
    this.phases = phases;
    this.failure = null;
    for (int k = 0; k < phases; k++) {
      completed.set(k * PAD, 0);
      for (int r = 0; r < participants; r++) cursors.set((k * participants + r) * PAD, rangeStart(counts[k], r));
    }
    active.set(0); // volatile write: helpers that enter after it see the fields above
  }

  /** Runs chunks of the open loop as participant {@code id}, if any; returns at once when the loop is over or closed. */
  public void help(int id) {
    for (int a; (a = active.get()) >= 0; ) {
      if (active.compareAndSet(a, a + 1)) {
        try {
          runChunks(id % participants);
        } finally {
          // Dekker with finish(): it publishes waiter, then re-reads active; we write active, then read waiter.
          if (active.decrementAndGet() == 0) {
            Thread w = waiter;
            if (w != null) LockSupport.unpark(w);
          }
        }
        return;
      }
    }
  }

  public void runAsCaller() {
    runChunks(0);
  }

  /**
   * Phase by phase: own range first, then the others' in turn (every index comes out of exactly one
   * range cursor once), then, before the next phase, wait until every index of this one is complete.
   */
  private void runChunks(int id) {
    Body b = body;
    Phases p = phased;
    for (int phase = 0, last = phases - 1; phase <= last; phase++) {
      int count = counts[phase];
      for (int k = 0; k < participants; k++) {
        int r = (id + k) % participants, end = rangeStart(count, r + 1), cursor = (phase * participants + r) * PAD;
        for (int i; (i = cursors.getAndIncrement(cursor)) < end; ) {
          if (failure != null) return; // another chunk failed: the call will throw, skip the rest
          try {
            if (p == null) b.run(i); else p.run(phase, i);
          } catch (Throwable t) {
            synchronized (this) {
              if (failure == null) failure = t;
            }
          }
          if (phase < last) completed.incrementAndGet(phase * PAD); // the last phase needs no barrier: finish() is one
        }
      }
      if (phase < last && !awaitPhase(phase, count)) return;
    }
  }

  /**
   * Waits until every index of {@code phase} is complete; false when a chunk failed instead. The indices
   * waited for are claimed, so running (or preempted) on another participant: spin briefly, then yield
   * the core, which on a loaded machine may be the one that participant needs.
   */
  private boolean awaitPhase(int phase, int count) {
    for (int spins = 0; completed.get(phase * PAD) < count; spins++) {
      if (failure != null) return false;
      if (spins < 2_000) Thread.onSpinWait(); else Thread.yield();
    }
    return true;
  }

  /**
   * Waits (without being interruptible: chunks are bounded work) until every helper has left, closes
   * the loop, then rethrows the first chunk failure. After it returns nothing touches the body's data.
   */
  public void finish() {
    // A helper is finishing its last chunk: spin briefly (it is usually running), then park so that a
    // helper preempted on a busy machine gets this core instead of a spinning caller.
    for (int spins = 0; spins < 2_000; spins++) {
      if (active.compareAndSet(0, CLOSED)) {
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
    phased = null;
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

  /** Runs a whole phased loop on the calling thread, phase by phase. */
  public static void runInline(Phases body, int[] counts, int phases) {
    for (int k = 0; k < phases; k++) {
      for (int i = 0; i < counts[k]; i++) body.run(k, i);
    }
  }
}
