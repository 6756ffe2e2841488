package dev.vecnorm.internal;

import java.lang.reflect.Array;
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
 * (KernelMixAllocationTest). Public for the facade classes of {@code dev.vecnorm} (WeightNorm, BatchNormRelu,
 * BlockedLayout); the package is not exported. A second pool holds double[] for the facades' double accumulators.
 */
public final class Scratch {
  /** Slots: two threads of ParallelNorms' GroupNorm hold up to seven arrays each. */
  private static final Pool FLOATS = new Pool(16), DOUBLES = new Pool(8);

  private Scratch() {}

  /** An array of at least {@code floats} floats, contents unspecified; give it back with {@link #release}. */
  public static float[] borrow(int floats) {
    Object a = FLOATS.take(floats);
    return a != null ? (float[]) a : new float[Math.max(floats, 256)];
  }

  /** Gives back an array from {@link #borrow} (or any float[] the caller no longer uses). */
  public static void release(float[] a) {
    FLOATS.give(a);
  }

  /** An array of at least {@code n} doubles, contents unspecified; give it back with {@link #releaseDoubles}. */
  public static double[] borrowDoubles(int n) {
    Object a = DOUBLES.take(n);
    return a != null ? (double[]) a : new double[Math.max(n, 64)];
  }

  /** Gives back an array from {@link #borrowDoubles}. */
  public static void releaseDoubles(double[] a) {
    DOUBLES.give(a);
  }

  /** Slots of primitive arrays of one type; {@link Array#getLength} is a C2 intrinsic. */
  private static final class Pool {
    private final AtomicReferenceArray<Object> free;

    Pool(int slots) {
      free = new AtomicReferenceArray<>(slots);
    }

    /** The smallest held array of at least {@code n} elements, taken out of its slot, or null. */
    Object take(int n) {
      while (true) {
        int best = -1;
        Object fit = null;
        int fitLength = Integer.MAX_VALUE;
        for (int i = 0; i < free.length(); i++) {
          Object a = free.get(i);
          if (a == null) continue;
          int length = Array.getLength(a);
          if (length >= n && length < fitLength) {
            fit = a;
            fitLength = length;
            best = i;
          }
        }
        if (fit == null) return null;
        if (free.compareAndSet(best, fit, null)) return fit;
        // another thread took it between the scan and the swap: scan again
      }
    }

    void give(Object a) {
      // An empty slot first: a call that borrows two arrays and gives back the smaller one first must
      // not have the larger one evict it from the same slot, or the smaller is allocated again on every
      // call (the short-plane normalize's 12 KiB, returned before the per-call coefficients: 11.8 KB/op).
      for (int i = 0; i < free.length(); i++) {
        if (free.get(i) == null && free.compareAndSet(i, null, a)) return;
      }
      // Every slot full: replace the smallest held array if it is shorter, so the pool keeps the longest arrays
      // it has seen and every request up to them is served.
      int smallest = -1, heldLength = Array.getLength(a);
      Object held = null;
      for (int i = 0; i < free.length(); i++) {
        Object h = free.get(i);
        if (h == null) continue;
        int length = Array.getLength(h);
        if (length < heldLength) {
          held = h;
          heldLength = length;
          smallest = i;
        }
      }
      if (held != null) free.compareAndSet(smallest, held, a);
    }
  }
}
