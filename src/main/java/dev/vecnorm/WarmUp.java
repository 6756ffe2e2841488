package dev.vecnorm;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Runs the batch-norm operations of one shape on private buffers until C2 has compiled them: the
 * JIT analogue of oneDNN creating a primitive before its first execution.
 *
 * <p>Why a library needs this. HotSpot compiles a method with C2 only after about 600 invocations
 * (Tier4MinInvocationThreshold) with many loop iterations, or 5000 without. Until then the kernels run
 * in the interpreter or in C1 code, where the Vector API is not intrinsified and every vector is an
 * object: the first call of an in-cache shape took ~1000x its steady-state time, and call 50 still
 * 13x (NC 256x1024) to 90x (NCHW 7x13x13x17). A warm-up on the caller's own shape compiles the kernels
 * with that shape's branch profile, so its first calls do not deoptimize into the slow tiers again;
 * a warm-up on a tiny stand-in shape would leave the main loops' paths unprofiled.
 *
 * <p>Every operation is run on {@code float[]}, and when an arena is given also on native segments from
 * it (the two have separate kernel bodies), out of place, on random data. Native segments only come
 * from the caller's arena: the JDK's segment access code calls the segment's session
 * ({@code Arena.ofConfined}, {@code ofShared}, {@code ofAuto} and {@code global} each have their own class)
 * and C2 compiles that call from a profile shared by the whole JVM. A warm-up on confined segments
 * followed by calls on {@code ofAuto} segments left NCHW 7x13x13x17 training forward at 356–442 µs
 * instead of 11–19 µs (README, "Warm-up"). A tensor larger than {@link #CAP_FLOATS} is warmed on a
 * stand-in with fewer outer slabs and the same channels and inner size, which takes the same kernel
 * paths. Each operation runs until its per-call time has stopped falling for {@link #STABLE_WINDOWS}
 * windows after at least {@link #MIN_CALLS} calls, or the budget is spent.
 */
final class WarmUp {

  private WarmUp() {}

  /** 1 Mi floats (4 MiB): the stand-in for a larger tensor; calls in the slow tiers scale with size. */
  static final long CAP_FLOATS = 1L << 20;

  /** Enough invocations for C2's invocation threshold (600 with loops) plus its compile-queue delay. */
  static final int MIN_CALLS = 800;

  /** Calls per timed window; the window's median is compared with the best so far. */
  static final int WINDOW = 32;

  /** Windows in a row without a 5% improvement that count as "compiled". */
  static final int STABLE_WINDOWS = 4;

  /** How long no compilation may finish before the JIT counts as done with these kernels (a C2 compile of one takes 10-100 ms). */
  static final long QUIET_NANOS = 300_000_000L;

  /** One operation on one memory kind, run once per call. */
  private interface Op {
    void run();
  }

  static Duration run(Kernels k, NormShape shape, java.lang.foreign.Arena arena, Duration budget) {
    if (shape == null) throw new NullPointerException("shape must not be null");
    if (budget == null || budget.isNegative() || budget.isZero()) {
      throw new IllegalArgumentException("budget must be a positive duration, got " + budget);
    }
    long start = System.nanoTime(), deadline = start + budget.toNanos();
    NormShape s = standIn(shape);
    int n = Math.toIntExact(s.size()), c = s.channels();
    SplittableRandom random = new SplittableRandom(42);
    float[] x = new float[n], dy = new float[n], y = new float[n], dx = new float[n];
    for (int i = 0; i < n; i++) {
      x[i] = (float) random.nextGaussian(1, 2);
      dy[i] = (float) random.nextGaussian();
    }
    float[] gamma = new float[c], beta = new float[c], mean = new float[c], variance = new float[c], invStd = new float[c];
    float[] dGamma = new float[c], dBeta = new float[c];
    Arrays.fill(gamma, 1.5f);
    Arrays.fill(beta, 0.25f);
    float eps = 1e-3f;
    k.forwardTraining(s, x, 0, gamma, beta, eps, y, 0, mean, variance, invStd); // statistics for inference and backward
    float[] m2 = mean.clone(), v2 = variance.clone(), i2 = invStd.clone();
    Op[] arrayOps = {
        () -> k.forwardTraining(s, x, 0, gamma, beta, eps, y, 0, mean, variance, invStd),
        () -> k.forwardInference(s, x, 0, gamma, beta, m2, v2, eps, y, 0),
        () -> k.backward(s, x, 0, dy, 0, gamma, m2, i2, dx, 0, dGamma, dBeta),
    };
    Op[] ops = arrayOps;
    if (arena != null) {
      // The caller's arena, so that the segments' session class is the one the kernels will see.
      MemorySegment xs = arena.allocate(ValueLayout.JAVA_FLOAT, n), dys = arena.allocate(ValueLayout.JAVA_FLOAT, n);
      MemorySegment ys = arena.allocate(ValueLayout.JAVA_FLOAT, n), dxs = arena.allocate(ValueLayout.JAVA_FLOAT, n);
      MemorySegment.copy(x, 0, xs, ValueLayout.JAVA_FLOAT, 0, n);
      MemorySegment.copy(dy, 0, dys, ValueLayout.JAVA_FLOAT, 0, n);
      ops = new Op[] {arrayOps[0], arrayOps[1], arrayOps[2],
          () -> k.forwardTraining(s, xs, 0, gamma, beta, eps, ys, 0, mean, variance, invStd),
          () -> k.forwardInference(s, xs, 0, gamma, beta, m2, v2, eps, ys, 0),
          () -> k.backward(s, xs, 0, dys, 0, gamma, m2, i2, dxs, 0, dGamma, dBeta),
      };
    }
    runUntilStable(ops, deadline);
    return Duration.ofNanos(System.nanoTime() - start);
  }

  /**
   * Runs the operations round-robin in windows, so each gets its share of a short budget, until each has
   * stopped getting faster and no compilation has finished for {@link #QUIET_NANOS}. The second condition matters: C1
   * code is slow but steady, so per-call times alone looked "stable" while C2 still had the kernels in
   * its queue (NCHW 7x13x13x17 native training forward then ran ~5x its steady state for the next 50
   * calls). HotSpot's total compilation time only grows when a compilation finishes.
   */
  private static void runUntilStable(Op[] ops, long deadline) {
    java.lang.management.CompilationMXBean jit = java.lang.management.ManagementFactory.getCompilationMXBean();
    boolean jitTimed = jit != null && jit.isCompilationTimeMonitoringSupported();
    long[] best = new long[ops.length];
    int[] calls = new int[ops.length], stale = new int[ops.length];
    Arrays.fill(best, Long.MAX_VALUE);
    long[] times = new long[WINDOW];
    long lastJit = -1, jitChanged = System.nanoTime();
    while (System.nanoTime() < deadline) {
      boolean settled = true;
      for (int o = 0; o < ops.length && System.nanoTime() < deadline; o++) {
        for (int i = 0; i < WINDOW; i++) {
          long t0 = System.nanoTime();
          ops[o].run();
          times[i] = System.nanoTime() - t0;
        }
        calls[o] += WINDOW;
        Arrays.sort(times);
        long median = times[WINDOW / 2];
        if (median < best[o] - best[o] / 20) {
          best[o] = median;
          stale[o] = 0;
        } else {
          stale[o]++;
        }
        settled &= calls[o] >= MIN_CALLS && stale[o] >= STABLE_WINDOWS;
      }
      long jitNow = jitTimed ? jit.getTotalCompilationTime() : 0, now = System.nanoTime();
      if (jitNow != lastJit) jitChanged = now;
      lastJit = jitNow;
      if (settled && now - jitChanged >= QUIET_NANOS) return;
    }
  }

  /**
   * The shape itself, or one with fewer outer slabs (same channels and inner) when it is over the cap.
   * When one slab alone is over the cap, a channels-first stand-in keeps the channels and a shorter plane
   * of the same length modulo 64 floats, at least 1088 floats when the plane is 1024 or more: the same
   * vector tail and the same per-channel backward choice, so the same kernel paths.
   */
  static NormShape standIn(NormShape s) {
    if (s.size() <= CAP_FLOATS) return s;
    long slab = (long) s.channels() * s.inner();
    if (slab <= CAP_FLOATS) return new NormShape((int) Math.min(s.outer(), CAP_FLOATS / slab), s.channels(), s.inner());
    if (s.inner() == 1) return new NormShape(1, s.channels(), 1);
    long target = Math.max(CAP_FLOATS / s.channels(), Math.min(s.inner(), 1024 + 64));
    int inner = (int) (s.inner() - (s.inner() - target) / 64 * 64);
    return new NormShape(1, s.channels(), inner);
  }
}
