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
 * it (the two have separate kernel bodies), out of place, on random data; one call in twenty is one of them
 * in place, at an offset of one float and without gamma, beta, dGamma and dBeta (null), so that no branch of
 * the checks, the dispatch and the coefficients is left unprofiled for the caller's first call to take. Native segments only come
 * from the caller's arena: the JDK's segment access code calls the segment's session
 * ({@code Arena.ofConfined}, {@code ofShared}, {@code ofAuto} and {@code global} each have their own class)
 * and C2 compiles that call from a profile shared by the whole JVM. A warm-up on confined segments
 * followed by calls on {@code ofAuto} segments left NCHW 7x13x13x17 training forward at 356–442 µs
 * instead of 11–19 µs (README, "Warm-up"). A tensor larger than {@link #CAP_FLOATS} is warmed on a
 * stand-in with fewer outer slabs and the same channels and inner size, which takes the same kernel
 * paths. A shape of 64 Ki floats or more is first warmed, for at most half the budget, on a stand-in of about
 * 16 Ki floats ({@link #smallStandIn}), where the interpreted and C1 calls that HotSpot counts towards C2
 * cost a sixteenth as much; then on its own shape. Each operation runs until its per-call time has stopped falling for {@link #STABLE_WINDOWS}
 * windows after at least {@link #MIN_CALLS} calls and HotSpot's code cache holds C2 code of its entry
 * point; then the warm-up ends once the compile queue holds no method of the kernels' call tree
 * ({@link JitQueue}), or when the budget is spent.
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

  /** Prefix of the {@code Compiler.codelist} name of each operation's entry point, in the order of {@code run}'s operations. */
  static final String[] ARRAY_ENTRIES = {
      "dev.vecnorm.BatchNorm.forwardTraining(Ldev/vecnorm/NormShape;[F",
      "dev.vecnorm.BatchNorm.forwardInference(Ldev/vecnorm/NormShape;[F",
      "dev.vecnorm.BatchNorm.backward(Ldev/vecnorm/NormShape;[F",
  };

  /** The same for the {@code MemorySegment} overloads. */
  static final String[] SEGMENT_ENTRIES = {
      "dev.vecnorm.BatchNorm.forwardTraining(Ldev/vecnorm/NormShape;Ljava/lang/foreign/MemorySegment;",
      "dev.vecnorm.BatchNorm.forwardInference(Ldev/vecnorm/NormShape;Ljava/lang/foreign/MemorySegment;",
      "dev.vecnorm.BatchNorm.backward(Ldev/vecnorm/NormShape;Ljava/lang/foreign/MemorySegment;",
  };

  /**
   * Runs the warm-up. The operations are called through {@link BatchNorm}'s public methods, the entry points
   * a program calls: their call sites are then resolved and profiled before the program's first call
   * (until 2026-11-30 the warm-up called {@link Kernels} directly, and the program's call 1 ran
   * {@code BatchNorm.forwardTraining} in the interpreter for the first time).
   */
  static Duration run(NormShape shape, java.lang.foreign.Arena arena, Duration budget) {
    if (shape == null) throw new NullPointerException("shape must not be null");
    checkBudget(budget);
    long start = System.nanoTime(), deadline = start + budget.toNanos();
    NormShape s = standIn(shape), small = smallStandIn(s);
    int c = s.channels();
    Tensors t = Tensors.of(s.size(), arena); // the caller's arena: the segments' session class is the one the kernels will see
    float[] gamma = new float[c], beta = new float[c], mean = new float[c], variance = new float[c], invStd = new float[c];
    float[] dGamma = new float[c], dBeta = new float[c];
    Arrays.fill(gamma, 1.5f);
    Arrays.fill(beta, 0.25f);
    float eps = 1e-3f;
    // Statistics for inference and backward, from the first rows (the same distribution): on the whole tensor this
    // first, interpreted call alone took up to 0.3 s of the budget on NC 256x1024.
    BatchNorm.forwardTraining(small == null ? s : small, t.x, 0, gamma, beta, eps, t.y, 0, mean, variance, invStd);
    float[] m2 = mean.clone(), v2 = variance.clone(), i2 = invStd.clone();
    String[] entries = arena == null ? ARRAY_ENTRIES : concat(ARRAY_ENTRIES, SEGMENT_ENTRIES);
    Buffers b = new Buffers(t.x, t.dy, t.y, t.dx, t.xs, t.dys, t.ys, t.dxs, gamma, beta, mean, variance, invStd, dGamma, dBeta, m2,
        v2, i2, eps);
    Work smallWork = small == null ? null : new Work(operations(small, b), branches(small, b), "small stand-in " + small);
    return phases(smallWork, new Work(operations(s, b), branches(s, b), "shape " + s), entries, ARRAY_ENTRIES.length, start, deadline);
  }

  // ---------------------------------------------------------------- the rest of the family

  /** Entry points of {@link LayerNorm} and {@link RmsNorm} (forward, backward; arrays, then segments), as {@link #ARRAY_ENTRIES}. */
  static final String[] LAYER_NORM_ENTRIES = {
      "dev.vecnorm.LayerNorm.forward(II[F", "dev.vecnorm.LayerNorm.backward(II[F",
      "dev.vecnorm.LayerNorm.forward(IILjava/lang/foreign/MemorySegment;", "dev.vecnorm.LayerNorm.backward(IILjava/lang/foreign/MemorySegment;",
  };
  static final String[] RMS_NORM_ENTRIES = {
      "dev.vecnorm.RmsNorm.forward(II[F", "dev.vecnorm.RmsNorm.backward(II[F",
      "dev.vecnorm.RmsNorm.forward(IILjava/lang/foreign/MemorySegment;", "dev.vecnorm.RmsNorm.backward(IILjava/lang/foreign/MemorySegment;",
  };
  static final String[] GROUP_NORM_ENTRIES = {
      "dev.vecnorm.GroupNorm.forward(Ldev/vecnorm/GroupShape;[F", "dev.vecnorm.GroupNorm.backward(Ldev/vecnorm/GroupShape;[F",
      "dev.vecnorm.GroupNorm.forward(Ldev/vecnorm/GroupShape;Ljava/lang/foreign/MemorySegment;",
      "dev.vecnorm.GroupNorm.backward(Ldev/vecnorm/GroupShape;Ljava/lang/foreign/MemorySegment;",
  };

  /**
   * A warm-up's private tensors: {@code float[]} of {@code n + 1} floats (the branch calls start at element 1, 4 bytes: not
   * vector-aligned), random, and segments of the same from the caller's arena when there is one.
   */
  private record Tensors(float[] x, float[] dy, float[] y, float[] dx, MemorySegment xs, MemorySegment dys, MemorySegment ys,
                         MemorySegment dxs) {
    static Tensors of(long n, java.lang.foreign.Arena arena) {
      int m = Math.toIntExact(n + 1); // one float more, for the calls at element 1 (not vector-aligned)
      SplittableRandom random = new SplittableRandom(42);
      float[] x = new float[m], dy = new float[m];
      for (int i = 0; i < m; i++) {
        x[i] = (float) random.nextGaussian(1, 2);
        dy[i] = (float) random.nextGaussian();
      }
      if (arena == null) return new Tensors(x, dy, new float[m], new float[m], null, null, null, null);
      MemorySegment xs = arena.allocate(ValueLayout.JAVA_FLOAT, m), dys = arena.allocate(ValueLayout.JAVA_FLOAT, m);
      MemorySegment.copy(x, 0, xs, ValueLayout.JAVA_FLOAT, 0, m);
      MemorySegment.copy(dy, 0, dys, ValueLayout.JAVA_FLOAT, 0, m);
      return new Tensors(x, dy, new float[m], new float[m], xs, dys, arena.allocate(ValueLayout.JAVA_FLOAT, m),
          arena.allocate(ValueLayout.JAVA_FLOAT, m));
    }
  }

  /** One phase's work: the timed operations ({@code float[]} first, then segments) and the branch calls. */
  private record Work(Op[] ops, Op[] branches, String label) {}

  /**
   * {@link #run}'s two phases for any operations: the small stand-in's work (may be null) for at most half the
   * budget, then the stand-in's own, until the entry points are in C2 code and the compile queue is empty, or the budget
   * is spent.
   */
  private static Duration phases(Work small, Work whole, String[] entries, int nativeFrom, long start, long deadline) {
    int target = Math.max(MIN_CALLS, ENTRY_CALLS);
    if (small != null) {
      // First the same operations on a stand-in with fewer outer slabs, for at most half the budget: HotSpot compiles
      // by invocation counts, and calls in the interpreter and C1 cost in proportion to the data. On the whole
      // tensor the JIT could fall behind for the whole budget: in 4 of 8 fresh JVMs of NC 256x1024 (main, 14:18-14:22
      // UTC) the warm-up made 7-28 calls per operation in 3 s instead of ~1100, and calls 2-50 ran at 7.5-21x the
      // steady state. On 1/16 of the rows the same calls reach C2's thresholds 16 times sooner. Then the shape itself,
      // for the profile of its own trip counts and branches (and to recompile what its paths trap in, within the
      // budget); its entry points already have C2 code when the first phase ended on that.
      long smallDeadline = Math.min(deadline, System.nanoTime() + (deadline - System.nanoTime()) / 2);
      if (runUntilCompiled(small.ops, entries, small.branches, smallDeadline, target, small.label, nativeFrom)) target = MIN_CALLS;
    }
    runUntilCompiled(whole.ops, entries, whole.branches, deadline, target, whole.label, nativeFrom);
    return Duration.ofNanos(System.nanoTime() - start);
  }

  private static void checkBudget(Duration budget) {
    if (budget == null || budget.isNegative() || budget.isZero()) {
      throw new IllegalArgumentException("budget must be a positive duration, got " + budget);
    }
  }

  /** Rows of {@code features} floats a {@link LayerNorm}/{@link RmsNorm} warm-up runs on: all, or as many as fit in {@link #CAP_FLOATS} (at least 1). */
  static int standInRows(int rows, int features) {
    return (int) Math.min(rows, Math.max(1, CAP_FLOATS / features));
  }

  /** The first phase's rows ({@link #SMALL_FLOATS} of them, at least 2), or 0 for none, by {@link #smallStandIn}'s rule. */
  static int smallStandInRows(int rows, int features) {
    if (2L * features > SMALL_FLOATS || (long) rows * features < 4 * SMALL_FLOATS) return 0;
    return (int) (SMALL_FLOATS / features);
  }

  /**
   * {@link LayerNorm#warmUp} ({@code rms} false) or {@link RmsNorm#warmUp}: forward and backward on {@code float[]}, on
   * segments from {@code arena} too when it is not null, with the branch calls of {@link #branches} (in place, at element 1,
   * without gamma, beta, dGamma and dBeta). The backward's statistics are fixed values near the data's (mean 1, invStd 0.5):
   * a warm-up's results are discarded, and a forward on the whole stand-in in the interpreter would cost a large part of the budget.
   */
  static Duration rows(int rows, int features, boolean rms, java.lang.foreign.Arena arena, Duration budget) {
    LayerNorm.shape(rows, features); // the operations' own checks of rows and features
    checkBudget(budget);
    long start = System.nanoTime(), deadline = start + budget.toNanos();
    int r = standInRows(rows, features), small = smallStandInRows(r, features);
    Tensors t = Tensors.of((long) r * features, arena);
    float[] gamma = new float[features], beta = new float[features], dGamma = new float[features], dBeta = new float[features];
    Arrays.fill(gamma, 1.5f);
    Arrays.fill(beta, 0.25f);
    String[] entries = rms ? RMS_NORM_ENTRIES : LAYER_NORM_ENTRIES;
    if (arena == null) entries = Arrays.copyOf(entries, 2);
    Work smallWork = small == 0 ? null : rowWork(small, features, rms, t, gamma, beta, dGamma, dBeta);
    return phases(smallWork, rowWork(r, features, rms, t, gamma, beta, dGamma, dBeta), entries, 2, start, deadline);
  }

  /** Per-row or per-group statistics: outputs for the forward, and fixed inputs near the data's for the backward. */
  private record Stats(float[] mean, float[] invStd, float[] m2, float[] i2) {
    static Stats of(int n) {
      float[] m2 = new float[n], i2 = new float[n];
      Arrays.fill(m2, 1f);
      Arrays.fill(i2, 0.5f);
      return new Stats(new float[n], new float[n], m2, i2);
    }
  }

  private static Work rowWork(int r, int f, boolean rms, Tensors t, float[] gamma, float[] beta, float[] dGamma, float[] dBeta) {
    Stats st = Stats.of(r);
    float[] mean = st.mean, invStd = st.invStd, m2 = st.m2, i2 = st.i2;
    float[] x = t.x, dy = t.dy, y = t.y, dx = t.dx;
    float eps = 1e-3f;
    Op[] ops = rms
        ? new Op[] {() -> RmsNorm.forward(r, f, x, 0, gamma, eps, y, 0, invStd), () -> RmsNorm.backward(r, f, x, 0, dy, 0, gamma, i2, dx, 0, dGamma)}
        : new Op[] {() -> LayerNorm.forward(r, f, x, 0, gamma, beta, eps, y, 0, mean, invStd),
            () -> LayerNorm.backward(r, f, x, 0, dy, 0, gamma, m2, i2, dx, 0, dGamma, dBeta)};
    Op[] branches = rms
        ? new Op[] {() -> RmsNorm.forward(r, f, y, 0, gamma, eps, y, 0, invStd), () -> RmsNorm.forward(r, f, x, 1, null, eps, y, 1, null),
            () -> RmsNorm.backward(r, f, x, 1, dy, 1, null, i2, dx, 1, null), () -> RmsNorm.backward(r, f, x, 0, dx, 0, gamma, i2, dx, 0, dGamma)}
        : new Op[] {() -> LayerNorm.forward(r, f, y, 0, gamma, beta, eps, y, 0, mean, invStd),
            () -> LayerNorm.forward(r, f, x, 1, null, null, eps, y, 1, null, null),
            () -> LayerNorm.backward(r, f, x, 1, dy, 1, null, m2, i2, dx, 1, null, null),
            () -> LayerNorm.backward(r, f, x, 0, dx, 0, gamma, m2, i2, dx, 0, dGamma, dBeta)};
    if (t.xs != null) {
      MemorySegment xs = t.xs, dys = t.dys, ys = t.ys, dxs = t.dxs;
      ops = rms
          ? concat(ops, () -> RmsNorm.forward(r, f, xs, 0, gamma, eps, ys, 0, invStd),
              () -> RmsNorm.backward(r, f, xs, 0, dys, 0, gamma, i2, dxs, 0, dGamma))
          : concat(ops, () -> LayerNorm.forward(r, f, xs, 0, gamma, beta, eps, ys, 0, mean, invStd),
              () -> LayerNorm.backward(r, f, xs, 0, dys, 0, gamma, m2, i2, dxs, 0, dGamma, dBeta));
      branches = rms
          ? concat(branches, () -> RmsNorm.forward(r, f, xs, 4, null, eps, ys, 4, null),
              () -> RmsNorm.backward(r, f, xs, 4, dys, 4, null, i2, dxs, 4, null))
          : concat(branches, () -> LayerNorm.forward(r, f, xs, 4, null, null, eps, ys, 4, null, null),
              () -> LayerNorm.backward(r, f, xs, 4, dys, 4, null, m2, i2, dxs, 4, null, null));
    }
    return new Work(ops, branches, (rms ? "RmsNorm " : "LayerNorm ") + r + "x" + f);
  }

  /**
   * {@link GroupNorm#warmUp}: forward and backward on {@code float[]}, on segments from {@code arena} too, with the branch
   * calls; on as many samples as fit in {@link #CAP_FLOATS} (at least 1), first on a sixteenth when samples are small.
   */
  static Duration groups(GroupShape shape, java.lang.foreign.Arena arena, Duration budget) {
    if (shape == null) throw new NullPointerException("shape must not be null");
    checkBudget(budget);
    long start = System.nanoTime(), deadline = start + budget.toNanos();
    long sample = (long) shape.channels() * shape.spatial();
    int b = (int) Math.min(shape.batch(), Math.max(1, CAP_FLOATS / sample));
    int small = 2 * sample > SMALL_FLOATS || b * sample < 4 * SMALL_FLOATS ? 0 : (int) (SMALL_FLOATS / sample);
    Tensors t = Tensors.of(b * sample, arena);
    int c = shape.channels();
    float[] gamma = new float[c], beta = new float[c], dGamma = new float[c], dBeta = new float[c];
    Arrays.fill(gamma, 1.5f);
    Arrays.fill(beta, 0.25f);
    String[] entries = arena == null ? Arrays.copyOf(GROUP_NORM_ENTRIES, 2) : GROUP_NORM_ENTRIES;
    Work smallWork = small == 0 ? null : groupWork(withBatch(shape, small), t, gamma, beta, dGamma, dBeta);
    return phases(smallWork, groupWork(withBatch(shape, b), t, gamma, beta, dGamma, dBeta), entries, 2, start, deadline);
  }

  private static GroupShape withBatch(GroupShape s, int batch) {
    return new GroupShape(batch, s.channels(), s.spatial(), s.groups(), s.channelsLast());
  }

  private static Work groupWork(GroupShape s, Tensors t, float[] gamma, float[] beta, float[] dGamma, float[] dBeta) {
    Stats st = Stats.of(s.statistics());
    float[] mean = st.mean, invStd = st.invStd, m2 = st.m2, i2 = st.i2;
    float[] x = t.x, dy = t.dy, y = t.y, dx = t.dx;
    float eps = 1e-3f;
    Op[] ops = {() -> GroupNorm.forward(s, x, 0, gamma, beta, eps, y, 0, mean, invStd),
        () -> GroupNorm.backward(s, x, 0, dy, 0, gamma, m2, i2, dx, 0, dGamma, dBeta)};
    Op[] branches = {() -> GroupNorm.forward(s, y, 0, gamma, beta, eps, y, 0, mean, invStd),
        () -> GroupNorm.forward(s, x, 1, null, null, eps, y, 1, null, null),
        () -> GroupNorm.backward(s, x, 1, dy, 1, null, m2, i2, dx, 1, null, null),
        () -> GroupNorm.backward(s, x, 0, dx, 0, gamma, m2, i2, dx, 0, dGamma, dBeta)};
    if (t.xs != null) {
      MemorySegment xs = t.xs, dys = t.dys, ys = t.ys, dxs = t.dxs;
      ops = concat(ops, () -> GroupNorm.forward(s, xs, 0, gamma, beta, eps, ys, 0, mean, invStd),
          () -> GroupNorm.backward(s, xs, 0, dys, 0, gamma, m2, i2, dxs, 0, dGamma, dBeta));
      branches = concat(branches, () -> GroupNorm.forward(s, xs, 4, null, null, eps, ys, 4, null, null),
          () -> GroupNorm.backward(s, xs, 4, dys, 4, null, m2, i2, dxs, 4, null, null));
    }
    return new Work(ops, branches, "GroupNorm " + s);
  }

  /** The warm-up's private tensors (segments null without an arena) and per-channel arrays, shared by both phases. */
  private record Buffers(float[] x, float[] dy, float[] y, float[] dx, MemorySegment xs, MemorySegment dys, MemorySegment ys,
                         MemorySegment dxs, float[] gamma, float[] beta, float[] mean, float[] variance, float[] invStd,
                         float[] dGamma, float[] dBeta, float[] m2, float[] v2, float[] i2, float eps) {}

  /** The timed operations on shape {@code s}: training forward, inference and backward on {@code float[]}, then on segments if any. */
  private static Op[] operations(NormShape s, Buffers b) {
    float[] x = b.x, dy = b.dy, y = b.y, dx = b.dx, gamma = b.gamma, beta = b.beta, mean = b.mean, variance = b.variance;
    float[] invStd = b.invStd, dGamma = b.dGamma, dBeta = b.dBeta, m2 = b.m2, v2 = b.v2, i2 = b.i2;
    float eps = b.eps;
    Op[] arrayOps = {
        () -> BatchNorm.forwardTraining(s, x, 0, gamma, beta, eps, y, 0, mean, variance, invStd),
        () -> BatchNorm.forwardInference(s, x, 0, gamma, beta, m2, v2, eps, y, 0),
        () -> BatchNorm.backward(s, x, 0, dy, 0, gamma, m2, i2, dx, 0, dGamma, dBeta),
    };
    if (b.xs == null) return arrayOps;
    MemorySegment xs = b.xs, dys = b.dys, ys = b.ys, dxs = b.dxs;
    return concat(arrayOps,
        () -> BatchNorm.forwardTraining(s, xs, 0, gamma, beta, eps, ys, 0, mean, variance, invStd),
        () -> BatchNorm.forwardInference(s, xs, 0, gamma, beta, m2, v2, eps, ys, 0),
        () -> BatchNorm.backward(s, xs, 0, dys, 0, gamma, m2, i2, dxs, 0, dGamma, dBeta));
  }

  /** The branch calls on shape {@code s} (in place, at an offset, without gamma and beta), on segments too if any. */
  private static Op[] branches(NormShape s, Buffers b) {
    float[] x = b.x, dy = b.dy, y = b.y, dx = b.dx, gamma = b.gamma, beta = b.beta, mean = b.mean, variance = b.variance;
    float[] invStd = b.invStd, dGamma = b.dGamma, dBeta = b.dBeta, m2 = b.m2, v2 = b.v2, i2 = b.i2;
    float eps = b.eps;
    // In place and at an unaligned offset: the other paths through the checks, the dispatch and the
    // kernels' alignment-dependent loops, so that C2 does not compile them as never taken (an uncommon
    // trap, then a deoptimization on the caller's first such call). In place runs on y and dx, which
    // the timed operations rewrite every round, so the data stays that of one normalization.
    Op[] arrayBranches = {
        () -> BatchNorm.forwardTraining(s, y, 0, gamma, beta, eps, y, 0, mean, variance, invStd),
        () -> BatchNorm.forwardInference(s, y, 0, gamma, beta, m2, v2, eps, y, 0),
        () -> BatchNorm.backward(s, y, 0, dx, 0, gamma, m2, i2, dx, 0, dGamma, dBeta),
        () -> BatchNorm.forwardTraining(s, x, 1, gamma, beta, eps, y, 1, mean, variance, invStd),
        () -> BatchNorm.backward(s, x, 1, dy, 1, gamma, m2, i2, dx, 1, dGamma, dBeta),
        // Null gamma and beta (Keras scale=False, center=False) and no dGamma/dBeta: every argument check and
        // coefficient loop tests them for null, and C2 compiled those tests as never true when the warm-up only
        // passed arrays. A caller's first call without them then hit an uncommon trap (unstable_if in
        // Checks.perChannel, Checks.distinct, ScalarBatchNormSupport.alpha, Coefficients.backwardA), the C2 code
        // was thrown away and calls 1-50 ran at 13-43x the steady state (SegmentCheck -Daffine=false).
        () -> BatchNorm.forwardTraining(s, x, 0, null, null, eps, y, 0, mean, variance, invStd),
        () -> BatchNorm.forwardInference(s, x, 0, null, null, m2, v2, eps, y, 0),
        () -> BatchNorm.backward(s, x, 0, dy, 0, null, m2, i2, dx, 0, null, null),
    };
    if (b.xs == null) return arrayBranches;
    MemorySegment xs = b.xs, dys = b.dys, ys = b.ys, dxs = b.dxs;
    return concat(arrayBranches, // the same kinds of call on the caller's segments
        () -> BatchNorm.forwardTraining(s, xs, 0, null, null, eps, ys, 0, mean, variance, invStd),
        () -> BatchNorm.forwardInference(s, xs, 0, null, null, m2, v2, eps, ys, 0),
        () -> BatchNorm.backward(s, xs, 0, dys, 0, null, m2, i2, dxs, 0, null, null),
        () -> BatchNorm.forwardTraining(s, ys, 0, gamma, beta, eps, ys, 0, mean, variance, invStd),
        () -> BatchNorm.forwardInference(s, ys, 0, gamma, beta, m2, v2, eps, ys, 0),
        () -> BatchNorm.backward(s, ys, 0, dxs, 0, gamma, m2, i2, dxs, 0, dGamma, dBeta),
        () -> BatchNorm.forwardTraining(s, xs, 4, gamma, beta, eps, ys, 4, mean, variance, invStd),
        () -> BatchNorm.backward(s, xs, 4, dys, 4, gamma, m2, i2, dxs, 4, dGamma, dBeta));
  }

  /** {@code first}'s entry points, then {@code more}'s. */
  private static String[] concat(String[] first, String[] more) {
    String[] all = Arrays.copyOf(first, first.length + more.length);
    System.arraycopy(more, 0, all, first.length, more.length);
    return all;
  }

  /** {@code first}'s operations, then {@code more}, in that order. */
  private static Op[] concat(Op[] first, Op... more) {
    Op[] all = Arrays.copyOf(first, first.length + more.length);
    System.arraycopy(more, 0, all, first.length, more.length);
    return all;
  }

  /** Budget that must be left to open the compile queue; with less the warm-up uses the quiet-time rule. */
  static final long QUEUE_OPEN_NANOS = 600_000_000L;

  /** The branch calls (in place, unaligned, without gamma and beta) get one call per BRANCH_SHARE operation calls. */
  static final int BRANCH_SHARE = 20;

  /**
   * Calls every operation has had before the branch calls start: a quarter of C1's invocation threshold
   * (Tier3InvocationThreshold), by when the checks and coefficient helpers, called several times per
   * operation call and the first to reach C2, run in C1's profiling code, whose profile C2 compiles from.
   * Made at the start, while everything was interpreted, one round of them took 2 s of a 3 s budget on NC
   * 256x1024; starting at twice the threshold was too late: C2 had compiled those helpers without the branch
   * paths, and the first round's uncommon traps came at the end of the budget.
   */
  static final int BRANCH_FROM_CALLS = (int) (vmOption("Tier3InvocationThreshold", 200) / 4);

  /** How often the compile queue is read once every operation has settled. */
  static final long QUEUE_READ_NANOS = 5_000_000L;

  /** Longest turn of one operation while its calls are slow: every operation reaches the JIT's thresholds early in the budget. */
  static final long SLICE_NANOS = 5_000_000L;

  /**
   * How often the code cache is listed while an operation's entry point may still be in C1 code. A listing
   * formats every method in the code cache and holds the code cache lock the compiler threads need: it
   * took 18-37 ms at load average 4 on this 2-core machine, and listing every 20 ms took a fifth of a 3 s
   * budget from the operations and the compilers.
   */
  static final long LISTING_NANOS = 250_000_000L;

  /**
   * Calls after which an operation's entry point has been queued for C2: the interpreter's threshold for C1
   * (Tier3InvocationThreshold, 200 by default) plus C2's for a method without loops
   * (Tier4InvocationThreshold, 5000), read from the VM where it tells, plus a tenth.
   */
  static final int ENTRY_CALLS = (int) ((vmOption("Tier3InvocationThreshold", 200) + vmOption("Tier4InvocationThreshold", 5000)) * 1.1);

  private static long vmOption(String name, long fallback) {
    try {
      var bean = java.lang.management.ManagementFactory.getPlatformMXBean(com.sun.management.HotSpotDiagnosticMXBean.class);
      return bean == null ? fallback : Long.parseLong(bean.getVMOption(name).getValue());
    } catch (LinkageError | RuntimeException e) { // no jdk.management, not HotSpot, or no such option
      return fallback;
    }
  }

  /**
   * Runs the operations in turns, each turn going to the unfinished operation with the fewest calls and lasting
   * at most {@link #WINDOW} calls or {@link #SLICE_NANOS} (one call each a round once all are done), and the
   * branch calls, once every operation has had {@link #BRANCH_FROM_CALLS} calls, in rounds that keep them at
   * 1/{@link #BRANCH_SHARE} of the operation calls, until every operation is done, the JIT has nothing of the
   * kernels' left to compile and the code cache holds C2 code (tier 4) of every operation's entry point
   * ({@code entries}), or the deadline. An operation is done when its per-call time has stopped falling
   * and it has had {@code firstTarget} calls (a quarter of {@link #ENTRY_CALLS} more each time a listing found
   * its entry point still in C1 code). Returns whether it ended on "entry points compiled, queue empty";
   * {@code phase} names the shape in the DEBUG trace.
   *
   * <p>Why the fewest calls, not equal time: HotSpot compiles by invocation counts, and with equal time
   * slices the slowest operations got the fewest calls (NC 256x1024 with an arena: 2240, 3136 and 1179 calls
   * of the array training forward, inference and backward, 2240, 3136 and 1088 of the native ones in a 3 s
   * warm-up; NCHW 7x13x13x17: 800 native training forwards against 2176 inferences), so their kernels were the
   * last to reach C2. The time goes to the operations whose calls are still slow, which are those the
   * program's first calls would find uncompiled.
   *
   * <p>Why turns end after a time slice: before C2 has compiled them a call runs the Vector API as
   * objects, up to 1000x slower, and a fixed 32-call window of the first operation then took a large part
   * of the budget before the last one ran at all (NCHW 7x13x13x17: the native moments were first compiled,
   * by C1, 2 s into a 3 s warm-up; `-XX:+PrintCompilation`, README "Warm-up").
   *
   * <p>Why the entry points' calls and tier: an empty compile queue does not mean compiled. A method in
   * profiled C1 code (tier 3) is queued for C2 only once its counters pass C2's thresholds, 5000
   * invocations for a method without loops, and C1 code is slow but steady, so per-call times look
   * settled. Warm-ups that ended on "settled and nothing queued" after 800 calls left
   * {@code Kernels.forwardTraining} and {@code momentsChannelsLast} interpreted and {@code momentsBlocks},
   * {@code blockMoments}, {@code mergeBlocks} and {@code foldPositions} (vector code, run as objects) in
   * C1 code for NC 256x1024, and the first 50 calls then ran at 1.4-7x the steady state (SegmentCheck with
   * {@code -Dmarks=true}, which lists the code cache before call 1 and in the steady state). The entry
   * point, the public {@code BatchNorm} method the program calls, is the last method of an operation's call
   * tree to reach C2 (it is called once per call and has no loop); its tier-4 code inlines
   * {@code Kernels}' checks and dispatch, whose own C1 code then stays in the code cache unused.
   * {@link JitQueue} reads the queue and the code cache; where they cannot be read, the warm-up ends when
   * no compilation has finished for {@link #QUIET_NANOS}.
   */
  private static boolean runUntilCompiled(Op[] ops, String[] entries, Op[] branches, long deadline, int firstTarget,
                                          String phase, int nativeFrom) {
    java.lang.management.CompilationMXBean jit = compilationBean();
    boolean jitTimed = jit != null && jit.isCompilationTimeMonitoringSupported();
    long[] best = new long[ops.length];
    int[] calls = new int[ops.length], stale = new int[ops.length], filled = new int[ops.length], target = new int[ops.length];
    Arrays.fill(best, Long.MAX_VALUE);
    Arrays.fill(target, firstTarget);
    long[][] times = new long[ops.length][WINDOW];
    long lastJit = -1, jitChanged = System.nanoTime(), queueEmpty = 0, queueRead = 0, listed = 0;
    long started = System.nanoTime(), listingNanos = 0, opCalls = 0, branchCalls = 0, branchFrom = -1;
    int listings = 0, branchRounds = 0;
    JitQueue queue = null;
    while (System.nanoTime() < deadline) {
      // The turn goes to the unfinished operation with the fewest calls, so that every operation reaches the
      // JIT's invocation thresholds after the same number of calls, however slow its calls still are; once all
      // are done, each gets one call a round.
      int next = nextOperation(calls, target, stale, nativeFrom);
      boolean settled = next < 0;
      for (int o = settled ? 0 : next; o < (settled ? ops.length : next + 1) && System.nanoTime() < deadline; o++) {
        long turnEnd = settled ? 0 : System.nanoTime() + SLICE_NANOS;
        do {
          long t0 = System.nanoTime();
          ops[o].run();
          long t1 = System.nanoTime();
          times[o][filled[o]++] = t1 - t0;
          calls[o]++;
          opCalls++;
          if (filled[o] == WINDOW) {
            filled[o] = 0;
            Arrays.sort(times[o]);
            long median = times[o][WINDOW / 2];
            if (median < best[o] - best[o] / 20) {
              best[o] = median;
              stale[o] = 0;
            } else {
              stale[o]++;
            }
            break;
          }
          if (t1 >= turnEnd) break;
        } while (true);
      }
      // The branch calls start once every operation has had BRANCH_FROM_CALLS calls, and then get one call per
      // BRANCH_SHARE operation calls: counted in calls, so that the profiles C2 compiles from hold the branch
      // paths in the same proportion whenever C2 compiles. (Until 2026-11-30 they got a share of the time: the
      // first round, made while everything was interpreted, cost 60-340 ms, so the next came 1.2-2.5 s later or
      // never, after C2 had compiled the kernels without those paths; that round then hit their uncommon traps
      // and the deoptimized kernels were still recompiling when the warm-up returned. README, "Warm-up".)
      if (branchFrom < 0 && Arrays.stream(calls).min().orElse(0) >= BRANCH_FROM_CALLS) branchFrom = opCalls;
      if (branchFrom >= 0) {
        if (branchTurn(opCalls - branchFrom, branchCalls)) {
          for (Op b : branches) {
            if (System.nanoTime() >= deadline) break;
            b.run();
            branchCalls++;
          }
          branchRounds++;
        }
      }
      long jitNow = jitTimed ? jit.getTotalCompilationTime() : 0, now = System.nanoTime();
      if (jitNow != lastJit) jitChanged = now;
      lastJit = jitNow;
      if (!settled) continue;
      if (queue == null) {
        // Only now, and only with time left: opening it costs 0.1-0.5 s of class loading, which must not
        // push the warm-up past its budget.
        queue = deadline - now > QUEUE_OPEN_NANOS ? JitQueue.open() : new JitQueue(null, null);
      }
      if (!queue.available()) {
        if (now - jitChanged < QUIET_NANOS) continue;
        trace(phase, "no compilation for 300 ms", started, calls, null, listings, listingNanos, branchRounds);
        return false;
      }
      if (now - queueRead < QUEUE_READ_NANOS) continue; // reading it builds a string of the whole queue
      queueRead = now;
      // Empty for QUIET_NANOS / 3: a method still profiling in C1 code is queued for C2 within a few rounds.
      if (queue.hasPending()) {
        queueEmpty = 0;
        continue;
      }
      if (queueEmpty == 0) queueEmpty = now;
      if (now - queueEmpty < QUIET_NANOS / 3 || now - listed < LISTING_NANOS) continue;
      // Nothing queued: check that the entry points did reach C2. One whose thresholds the JIT raised
      // while its queue was long (they scale with the queue's length) gets more calls.
      listed = now;
      boolean[] tier4 = queue.compiled(entries);
      listings++;
      listingNanos += System.nanoTime() - now;
      boolean all = true;
      for (int o = 0; o < ops.length; o++) {
        // The warm-up's own caller may have inlined an entry point, whose standalone code then stops counting
        // its calls: after four times the threshold the operation counts as compiled.
        tier4[o] |= calls[o] >= 4 * ENTRY_CALLS;
        if (!tier4[o]) target[o] = calls[o] + ENTRY_CALLS / 4;
        all &= tier4[o];
      }
      if (all) {
        trace(phase, "entry points compiled, compile queue empty", started, calls, tier4, listings, listingNanos, branchRounds);
        return true;
      }
      queueEmpty = 0;
    }
    trace(phase, "budget spent", started, calls, null, listings, listingNanos, branchRounds);
    return false;
  }

  /**
   * With an arena, each {@code float[]} operation call counts as this many in {@link #nextOperation}: the native
   * operations get three turns to the arrays' one. The arena says that the program's tensors are native, and C2's
   * time is what runs out: in a fresh JVM of NC 256x1024 sharing the 2 cores with other engineers' builds (vmstat: 5-10
   * runnable threads), C2 compiled for 3.6 s of the run (-XX:+CITime: warm-up, 50 calls and 2 s of steady state),
   * the warm-up made 27 calls per operation in its 3 s, and the native kernels the caller then ran were in C1 code. HotSpot queues the methods with the most calls
   * first, so fewer array calls leave C2 to the native kernels first.
   */
  static final int ARRAY_WEIGHT = 3;

  /**
   * The operation whose turn it is: of those not done (at least {@code target} calls and {@link #STABLE_WINDOWS}
   * windows without improvement), the one with the fewest calls, those before {@code nativeFrom} (the {@code float[]}
   * operations when there are native ones after them) counting {@link #ARRAY_WEIGHT} each, the first of equals;
   * -1 when all are done.
   */
  static int nextOperation(int[] calls, int[] target, int[] stale, int nativeFrom) {
    int next = -1;
    long fewest = Long.MAX_VALUE;
    for (int o = 0; o < calls.length; o++) {
      long weighted = (long) calls[o] * (o < nativeFrom && nativeFrom < calls.length ? ARRAY_WEIGHT : 1);
      if (!(calls[o] >= target[o] && stale[o] >= STABLE_WINDOWS) && weighted < fewest) {
        next = o;
        fewest = weighted;
      }
    }
    return next;
  }

  /** Whether a round of branch calls is due: they have had at most 1/{@link #BRANCH_SHARE} of the operation calls since they started. */
  static boolean branchTurn(long opCallsSince, long branchCalls) {
    return branchCalls * BRANCH_SHARE <= opCallsSince;
  }

  private static final System.Logger LOG = System.getLogger("dev.vecnorm");

  /** At DEBUG: why the warm-up ended, each operation's calls, whether its entry point had reached C2, and the branch rounds. */
  private static void trace(String phase, String reason, long started, int[] calls, boolean[] compiled, int listings, long listingNanos,
                            int branchRounds) {
    if (!LOG.isLoggable(System.Logger.Level.DEBUG)) return;
    LOG.log(System.Logger.Level.DEBUG, "warm-up on " + phase + ": " + reason + " after " + (System.nanoTime() - started) / 1_000_000
        + " ms; calls per operation " + Arrays.toString(calls)
        + (compiled == null ? "" : ", entry point in C2 code " + Arrays.toString(compiled))
        + "; " + branchRounds + " rounds of branch calls; " + listings + " code cache listings, " + listingNanos / 1_000_000 + " ms");
  }

  private static java.lang.management.CompilationMXBean compilationBean() {
    try {
      return java.lang.management.ManagementFactory.getCompilationMXBean();
    } catch (LinkageError e) { // java.management is optional (requires static)
      return null;
    }
  }

  /**
   * HotSpot's compile queues and current compilations (what {@code jcmd PID Compiler.queue} prints), through
   * the DiagnosticCommand MBean: whether a method of the kernels' call tree (vecnorm, the Vector API, the
   * foreign memory access code) is waiting for or in compilation.
   */
  static final class JitQueue {
    private static final String[] PREFIXES = {
        "dev.vecnorm.", "jdk.incubator.vector.", "jdk.internal.vm.vector.", "jdk.internal.foreign.",
        "jdk.internal.misc.ScopedMemoryAccess", "java.lang.invoke.SegmentVarHandle",
    };
    private final Object server, name;

    private JitQueue(Object server, Object name) {
      this.server = server;
      this.name = name;
    }

    static JitQueue open() {
      try {
        javax.management.MBeanServer server = java.lang.management.ManagementFactory.getPlatformMBeanServer();
        javax.management.ObjectName name = new javax.management.ObjectName("com.sun.management:type=DiagnosticCommand");
        JitQueue q = new JitQueue(server, name);
        return q.text() == null ? new JitQueue(null, null) : q;
      } catch (LinkageError | RuntimeException | javax.management.JMException e) {
        return new JitQueue(null, null); // no java.management, not HotSpot, or a security manager: fall back to quiet time
      }
    }

    boolean available() {
      return server != null;
    }

    /** The queue and current compilations as text, or null when they cannot be read. */
    String text() {
      return invoke("compilerQueue");
    }

    /** The output of one diagnostic command without arguments, or null. */
    private String invoke(String command) {
      if (server == null) return null;
      try {
        return (String) ((javax.management.MBeanServer) server).invoke((javax.management.ObjectName) name, command,
            new Object[] {null}, new String[] {String[].class.getName()});
      } catch (LinkageError | RuntimeException | javax.management.JMException e) {
        return null;
      }
    }

    /**
     * For each name prefix (a method's name and the start of its descriptor, as {@code Compiler.codelist}
     * prints them), whether the code cache holds tier-4 (C2) code of it that is in use; all false when the
     * code cache cannot be read. A line reads {@code id tier state name(descriptor) [addresses]}, state 0
     * being in use.
     */
    boolean[] compiled(String[] prefixes) {
      return compiledIn(codelist(), prefixes);
    }

    /** {@code jcmd PID Compiler.codelist}: every method in the code cache, one line each; null when it cannot be read. */
    String codelist() {
      return invoke("compilerCodelist");
    }

    /** {@link #compiled} on a given listing; all false for null. */
    static boolean[] compiledIn(String codelist, String[] prefixes) {
      boolean[] found = new boolean[prefixes.length];
      if (codelist == null) return found;
      for (String line : codelist.split("\n")) {
        String[] f = line.trim().split(" ", 5);
        if (f.length < 4 || !f[1].equals("4") || !f[2].equals("0")) continue;
        for (int i = 0; i < prefixes.length; i++) found[i] |= f[3].startsWith(prefixes[i]);
      }
      return found;
    }

    /** Whether a method of the kernels' call tree is queued or being compiled; true when the queue cannot be read. */
    boolean hasPending() {
      String t = text();
      if (t == null) return true;
      for (String p : PREFIXES) if (t.contains(p)) return true;
      return false;
    }
  }

  /** Floats of the first phase's stand-in ({@link #smallStandIn}): 64 KiB, 1/16 of NC 256x1024. */
  static final long SMALL_FLOATS = 16 * 1024;

  /**
   * The first phase's stand-in for {@code s} (already capped by {@link #standIn}): the same channels and inner size
   * and as many outer slabs as fit in {@link #SMALL_FLOATS}, at least 2 (so that the loops over slabs run more than
   * once); null, for no first phase, when that would not make the calls at least 4 times cheaper (NCHW 7x13x13x17,
   * or one slab over half of {@link #SMALL_FLOATS}: a shorter plane would change the plane kernels' paths).
   */
  static NormShape smallStandIn(NormShape s) {
    long slab = (long) s.channels() * s.inner();
    if (2 * slab > SMALL_FLOATS || s.size() < 4 * SMALL_FLOATS) return null;
    return new NormShape((int) (SMALL_FLOATS / slab), s.channels(), s.inner());
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
