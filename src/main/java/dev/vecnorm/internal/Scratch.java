package dev.vecnorm.internal;

import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * A few slots of float scratch for the per-channel coefficient and accumulator arrays of the
 * channels-last kernels, so a steady stream of calls allocates nothing (JMH {@code -prof gc}) without
 * a ThreadLocal. A call takes a slot's array (or allocates when every slot is empty or too small) and
 * puts it back when done; the contents are never shared. Several slots, because ParallelBatchNorm runs
 * kernels on several threads at once: with one slot every concurrent chunk but one allocated.
 */
final class Scratch {
  private static final AtomicReferenceArray<float[]> FREE = new AtomicReferenceArray<>(8);

  private Scratch() {}

  static float[] borrow(int floats) {
    for (int i = 0; i < FREE.length(); i++) {
      float[] a = FREE.get(i);
      if (a != null && a.length >= floats && FREE.compareAndSet(i, a, null)) return a;
    }
    return new float[Math.max(floats, 256)];
  }

  static void release(float[] a) {
    // An empty slot first: a call that borrows two arrays and gives back the smaller one first must
    // not have the larger one evict it from the same slot, or the smaller is allocated again on every
    // call (the short-plane normalize's 12 KiB, returned before the per-call coefficients: 11.8 KB/op).
    for (int i = 0; i < FREE.length(); i++) {
      if (FREE.get(i) == null && FREE.compareAndSet(i, null, a)) return;
    }
    for (int i = 0; i < FREE.length(); i++) {
      float[] held = FREE.get(i);
      // every slot full: keep the larger, so wide layers stop allocating
      if (held != null && held.length < a.length && FREE.compareAndSet(i, held, a)) return;
    }
  }
}
