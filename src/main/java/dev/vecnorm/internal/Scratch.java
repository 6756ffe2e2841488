package dev.vecnorm.internal;

import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * A few slots of float scratch for the per-channel coefficient and accumulator arrays of the
 * channels-last kernels, so a steady stream of calls allocates nothing (JMH {@code -prof gc}) without
 * a ThreadLocal. A call takes a slot's array (or allocates when every slot is empty or too small) and
 * puts it back when done; the contents are never shared. Several slots, because ParallelBatchNorm runs
 * kernels on several threads at once: with one slot every concurrent chunk but one allocated.
 *
 * <p>Best fit both ways: a call takes the smallest array that is long enough, and a full pool gives up its
 * smallest array for a longer one. With first fit, in a JVM that had run the other kernels first (so the pool
 * held their arrays), GroupNorm's channels-last forward and backward (five to seven arrays at once) let a
 * 256-float request take the one long array the pattern request needed, and allocated 8 KB on every call
 * (KernelMixAllocationTest). Public for the facade classes of {@code dev.vecnorm} (WeightNorm); the package
 * is not exported.
 */
public final class Scratch {
  /** Slots: two threads of ParallelNorms' GroupNorm hold up to seven arrays each. */
  private static final AtomicReferenceArray<float[]> FREE = new AtomicReferenceArray<>(16);

  private Scratch() {}

  /** An array of at least {@code floats} floats, contents unspecified; give it back with {@link #release}. */
  public static float[] borrow(int floats) {
    while (true) {
      int best = -1;
      float[] fit = null;
      for (int i = 0; i < FREE.length(); i++) {
        float[] a = FREE.get(i);
        if (a != null && a.length >= floats && (fit == null || a.length < fit.length)) {
          fit = a;
          best = i;
        }
      }
      if (fit == null) return new float[Math.max(floats, 256)];
      if (FREE.compareAndSet(best, fit, null)) return fit;
      // another thread took it between the scan and the swap: scan again
    }
  }

  /** Gives back an array from {@link #borrow} (or any float[] the caller no longer uses). */
  public static void release(float[] a) {
    // An empty slot first: a call that borrows two arrays and gives back the smaller one first must
    // not have the larger one evict it from the same slot, or the smaller is allocated again on every
    // call (the short-plane normalize's 12 KiB, returned before the per-call coefficients: 11.8 KB/op).
    for (int i = 0; i < FREE.length(); i++) {
      if (FREE.get(i) == null && FREE.compareAndSet(i, null, a)) return;
    }
    // Every slot full: replace the smallest held array if it is shorter, so the pool keeps the longest arrays
    // it has seen and every request up to them is served.
    int smallest = -1;
    float[] held = null;
    for (int i = 0; i < FREE.length(); i++) {
      float[] h = FREE.get(i);
      if (h != null && h.length < a.length && (held == null || h.length < held.length)) {
        held = h;
        smallest = i;
      }
    }
    if (held != null) FREE.compareAndSet(smallest, held, a);
  }
}
