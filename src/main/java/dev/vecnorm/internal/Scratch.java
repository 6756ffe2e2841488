package dev.vecnorm.internal;

import java.util.concurrent.atomic.AtomicReference;

/**
 * A one-slot pool of float scratch for the per-channel coefficient and accumulator arrays of the
 * channels-last kernels, so a steady stream of calls allocates nothing (JMH {@code -prof gc}) without
 * a ThreadLocal. A call takes the slot's array (or allocates when the slot is empty or too small, as
 * when two threads call at once) and puts it back when done; the contents are never shared.
 */
final class Scratch {
  private static final AtomicReference<float[]> FREE = new AtomicReference<>();

  private Scratch() {}

  static float[] borrow(int floats) {
    float[] a = FREE.getAndSet(null);
    return a != null && a.length >= floats ? a : new float[Math.max(floats, 256)];
  }

  static void release(float[] a) {
    float[] held = FREE.get();
    if (held == null || held.length <= a.length) FREE.set(a); // keep the larger, so wide layers stop allocating
  }
}
