package dev.vecnorm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * Every rejected call leaves everything as it was. Over random shapes and offsets, each operation of
 * {@link BatchNorm}, {@link BatchNormRelu}, {@link BlockedLayout}, {@link ParallelBatchNorm} and
 * {@link Moments} is called with one bad argument at a time (bounds, lengths, parameters, per-channel
 * aliasing, partial overlaps, read-only, closed and other-thread segments) while every output, tensor and
 * per-channel alike, and the moving statistics, holds NaN-boxed sentinels whose payload encodes its
 * position. The call must throw {@link IllegalArgumentException} or {@link NullPointerException}, and
 * every array and segment, inputs included, must be bit for bit as before.
 */
class SentinelTest {

  static ExecutorService owner;
  static Arena foreignArena;
  static MemorySegment foreign;
  static final List<ParallelBatchNorm> PARALLEL = new ArrayList<>();

  @BeforeAll
  static void setUp() throws Exception {
    owner = Executors.newSingleThreadExecutor();
    foreignArena = owner.submit(Arena::ofConfined).get(10, TimeUnit.SECONDS);
    foreign = owner.submit(() -> foreignArena.allocate(1 << 20, 4)).get(10, TimeUnit.SECONDS);
    for (Kernels k : Implementations.all()) PARALLEL.add(new ParallelBatchNorm(k.impl(), 2));
  }

  @AfterAll
  static void tearDown() throws Exception {
    owner.submit(foreignArena::close).get(10, TimeUnit.SECONDS);
    owner.shutdownNow();
    PARALLEL.forEach(ParallelBatchNorm::close);
  }

  /** A quiet NaN whose payload is {@code tag}: distinct per array and element, and never a computed value. */
  static float sentinel(int tag) {
    return Float.intBitsToFloat(0x7fc00000 | (tag & 0x3fffff));
  }

  static float[] sentinels(int n, int arrayTag) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) a[i] = sentinel(arrayTag << 16 ^ i);
    return a;
  }

  /** All the memory of one try: named arrays and segments, compared bit for bit after each rejected call. */
  static final class World {
    final Map<String, float[]> arrays = new LinkedHashMap<>();
    final Map<String, MemorySegment> segments = new LinkedHashMap<>();
    final Map<String, Object> snapshot = new LinkedHashMap<>();
    final Map<String, Moments> moments = new LinkedHashMap<>();

    Moments moments(String name, Moments m) {
      moments.put(name, m);
      return m;
    }

    float[] array(String name, float[] a) {
      arrays.put(name, a);
      return a;
    }

    MemorySegment segment(String name, MemorySegment s) {
      segments.put(name, s);
      return s;
    }

    void snapshot() {
      arrays.forEach((n, a) -> snapshot.put(n, a.clone()));
      segments.forEach((n, s) -> snapshot.put(n, s.toArray(ValueLayout.JAVA_BYTE)));
      moments.forEach((n, m) -> snapshot.put(n, m.pack()));
    }

    void assertUntouched(String call) {
      arrays.forEach((n, a) -> {
        float[] before = (float[]) snapshot.get(n);
        for (int i = 0; i < a.length; i++) {
          if (Float.floatToRawIntBits(a[i]) != Float.floatToRawIntBits(before[i])) {
            fail(call + ": " + n + "[" + i + "] was written (" + before[i] + " -> " + a[i] + ") by a rejected call");
          }
        }
      });
      segments.forEach((n, s) -> {
        if (!Arrays.equals((byte[]) snapshot.get(n), s.toArray(ValueLayout.JAVA_BYTE))) fail(call + ": segment " + n + " was written");
      });
      moments.forEach((n, m) -> {
        if (!Arrays.equals((double[]) snapshot.get(n), m.pack())) fail(call + ": moments " + n + " were changed");
      });
    }
  }

  record Bad(String name, Executable call) {}

  record Setup(NormShape s, int off, int kernel, long seed) {}

  static Setup setup(SplittableRandom r) {
    NormShape s = r.nextBoolean()
        ? NormShape.channelsLast(PropertyCheck.dimension(r, 200), PropertyCheck.dimension(r, 40))
        : NormShape.channelsFirst(PropertyCheck.dimension(r, 5), PropertyCheck.dimension(r, 20), PropertyCheck.dimension(r, 60));
    return new Setup(s, 1 + r.nextInt(9), r.nextInt(Implementations.all().size()), r.nextLong());
  }

  @Test
  void rejectedCallsLeaveEverythingUntouched() {
    PropertyCheck.forAll("sentinels", 40, SentinelTest::setup, setup -> {
      try (Arena arena = Arena.ofConfined()) {
        World w = new World();
        List<Bad> bad = badCalls(setup, w, arena);
        w.snapshot();
        for (Bad b : bad) {
          Throwable e = assertThrows(Throwable.class, b.call(), b.name() + " was accepted");
          if (!(e instanceof IllegalArgumentException || e instanceof NullPointerException)) {
            throw new AssertionError(b.name() + " threw " + e + ", not IllegalArgumentException or NullPointerException", e);
          }
          w.assertUntouched(b.name());
        }
      }
    });
  }

  static List<Bad> badCalls(Setup setup, World w, Arena arena) {
    NormShape s = setup.s();
    int C = s.channels(), n = (int) s.size(), off = setup.off();
    Kernels k = Implementations.all().get(setup.kernel());
    ParallelBatchNorm par = PARALLEL.get(setup.kernel());
    float e = 1e-3f;
    float[] x = w.array("x", Reference.data(s, off, setup.seed()));
    float[] dy = w.array("dy", Reference.data(s, off, setup.seed() + 1));
    float[] res = w.array("residual", Reference.data(s, off, setup.seed() + 2));
    float[] y = w.array("y", sentinels(n + 2 * off, 1)), dx = w.array("dx", sentinels(n + 2 * off, 2));
    float[] dRes = w.array("dResidual", sentinels(n + 2 * off, 3));
    float[] g = w.array("gamma", Reference.perChannel(C, 1, 0.5, 4)), b = w.array("beta", Reference.perChannel(C, 0, 1, 5));
    float[] mean = w.array("batchMean", sentinels(C, 6)), var = w.array("batchVariance", sentinels(C, 7));
    float[] inv = w.array("invStd", sentinels(C, 8)), dG = w.array("dGamma", sentinels(C, 9)), dB = w.array("dBeta", sentinels(C, 10));
    float[] sumDy = w.array("sumDy", sentinels(C, 11)), sumDyXhat = w.array("sumDyXhat", sentinels(C, 12));
    float[] mm = w.array("movingMean", sentinels(C, 13)), mv = w.array("movingVariance", sentinels(C, 14));
    float[] statMean = w.array("givenMean", Reference.perChannel(C, 0, 1, 15)), statInv = w.array("givenInvStd", Reference.perChannel(C, 1, 0.1, 16));
    float[] wrong = w.array("wrongLength", sentinels(C + 1, 17));
    MemorySegment xs = w.segment("xNative", arena.allocate(4L * (n + 2 * off), 4));
    MemorySegment.copy(x, 0, xs, ValueLayout.JAVA_FLOAT, 0, x.length);
    MemorySegment ys = w.segment("yNative", arena.allocate(4L * (n + 2 * off), 4));
    MemorySegment.copy(y, 0, ys, ValueLayout.JAVA_FLOAT, 0, y.length);
    MemorySegment yHeap = MemorySegment.ofArray(y), xHeap = MemorySegment.ofArray(x);
    Arena closing = Arena.ofConfined();
    MemorySegment dead = closing.allocate(4L * n, 4);
    closing.close();
    MemorySegment foreignY = foreign.asSlice(0, 4L * n);
    long ob = 4L * off;
    double[] sentinelMoments = new double[C];
    Arrays.fill(sentinelMoments, Double.longBitsToDouble(0x7ff8_0000_dead_beefL));
    Moments moments = w.moments("out", Moments.of(7, sentinelMoments, sentinelMoments));
    BlockedShape bs = new BlockedShape(s.outer(), C, s.inner(), 8);
    float[] xb = w.array("xBlocked", Reference.data(NormShape.channelsLast(1, bs.size()), off, setup.seed() + 3));
    float[] yb = w.array("yBlocked", sentinels(bs.size() + 2 * off, 18));
    float[] conv = w.array("conversion", sentinels(bs.size() + n + 2 * off, 19));

    List<Bad> l = new ArrayList<>();
    // BatchNorm training forward, float[] and segments
    l.add(new Bad("forwardTraining xOffset -1", () -> k.forwardTraining(s, x, -1, g, b, e, y, off, mean, var, inv)));
    l.add(new Bad("forwardTraining y too short", () -> k.forwardTraining(s, x, off, g, b, e, y, 2 * off + 1, mean, var, inv)));
    l.add(new Bad("forwardTraining gamma length", () -> k.forwardTraining(s, x, off, wrong, b, e, y, off, mean, var, inv)));
    l.add(new Bad("forwardTraining epsilon NaN", () -> k.forwardTraining(s, x, off, g, b, Float.NaN, y, off, mean, var, inv)));
    l.add(new Bad("forwardTraining batchMean == gamma", () -> k.forwardTraining(s, x, off, g, b, e, y, off, g, var, inv)));
    l.add(new Bad("forwardTraining invStd == beta", () -> k.forwardTraining(s, x, off, g, b, e, y, off, mean, var, b)));
    l.add(new Bad("forwardTraining batchVariance == batchMean", () -> k.forwardTraining(s, x, off, g, b, e, y, off, mean, mean, inv)));
    l.add(new Bad("forwardTraining y overlaps x", () -> k.forwardTraining(s, x, off, g, b, e, x, off - 1, mean, var, inv)));
    l.add(new Bad("forwardTraining null batchVariance", () -> k.forwardTraining(s, x, off, g, b, e, y, off, mean, null, inv)));
    l.add(new Bad("forwardTraining segment y read-only", () -> k.forwardTraining(s, xs, ob, g, b, e, ys.asReadOnly(), ob, mean, var, inv)));
    l.add(new Bad("forwardTraining segment x closed", () -> k.forwardTraining(s, dead, 0, g, b, e, ys, ob, mean, var, inv)));
    l.add(new Bad("forwardTraining segment y of another thread", () -> k.forwardTraining(s, xs, ob, g, b, e, foreignY, 0, mean, var, inv)));
    l.add(new Bad("forwardTraining segment x of another thread", () -> k.forwardTraining(s, foreignY, 0, g, b, e, yHeap, ob, mean, var, inv)));
    l.add(new Bad("forwardTraining segment y overlaps x (read-only view)",
        () -> k.forwardTraining(s, xHeap.asReadOnly(), ob, g, b, e, xHeap, ob - 4, mean, var, inv)));
    l.add(new Bad("forwardTraining segment y overlaps x (slice)", () -> k.forwardTraining(s, xs, ob, g, b, e, xs.asSlice(4), ob, mean, var, inv)));
    l.add(new Bad("forwardTraining segment too small", () -> k.forwardTraining(s, xs, ob + 4L * off + 4, g, b, e, ys, ob, mean, var, inv)));
    l.add(new Bad("forwardTraining segment batchMean == gamma", () -> k.forwardTraining(s, xs, ob, g, b, e, ys, ob, g, var, inv)));
    // inference and normalize
    l.add(new Bad("forwardInference movingVariance length", () -> k.forwardInference(s, x, off, g, b, statMean, wrong, e, y, off)));
    l.add(new Bad("forwardInference y overlaps x", () -> k.forwardInference(s, x, off, g, b, statMean, statInv, e, x, off + 1)));
    l.add(new Bad("forwardInference segment y read-only", () -> k.forwardInference(s, xs, ob, g, b, statMean, statInv, e, ys.asReadOnly(), ob)));
    l.add(new Bad("normalize mean length", () -> k.normalize(s, x, off, wrong, statInv, g, b, y, off)));
    l.add(new Bad("normalize segment y of another thread", () -> k.normalize(s, xs, ob, statMean, statInv, g, b, foreignY, 0)));
    // backward and its phases
    l.add(new Bad("backward dx overlaps dy", () -> k.backward(s, x, off, dy, off, g, statMean, statInv, dy, off - 1, dG, dB)));
    l.add(new Bad("backward dGamma == gamma", () -> k.backward(s, x, off, dy, off, g, statMean, statInv, dx, off, g, dB)));
    l.add(new Bad("backward dBeta == batchMean", () -> k.backward(s, x, off, dy, off, g, statMean, statInv, dx, off, dG, statMean)));
    l.add(new Bad("backward dGamma == dBeta", () -> k.backward(s, x, off, dy, off, g, statMean, statInv, dx, off, dG, dG)));
    l.add(new Bad("backward dx too short", () -> k.backward(s, x, off, dy, off, g, statMean, statInv, dx, 2 * off + 1, dG, dB)));
    l.add(new Bad("backward segment dx read-only", () -> k.backward(s, xs, ob, xs, ob, g, statMean, statInv, ys.asReadOnly(), ob, dG, dB)));
    l.add(new Bad("backward segment dx of another thread", () -> k.backward(s, xs, ob, xs, ob, g, statMean, statInv, foreignY, 0, dG, dB)));
    l.add(new Bad("backward segment dBeta == invStd", () -> k.backward(s, xs, ob, xs, ob, g, statMean, statInv, ys, ob, dG, statInv)));
    l.add(new Bad("backwardReduce sumDy == mean", () -> k.backwardReduce(s, x, off, dy, off, statMean, statInv, statMean, sumDyXhat)));
    l.add(new Bad("backwardReduce sumDyXhat == invStd", () -> k.backwardReduce(s, x, off, dy, off, statMean, statInv, sumDy, statInv)));
    l.add(new Bad("backwardReduce sumDy == sumDyXhat", () -> k.backwardReduce(s, x, off, dy, off, statMean, statInv, sumDy, sumDy)));
    l.add(new Bad("backwardReduce segment x closed", () -> k.backwardReduce(s, dead, 0, xs, ob, statMean, statInv, sumDy, sumDyXhat)));
    l.add(new Bad("backwardApply globalCount", () -> k.backwardApply(s, x, off, dy, off, g, statMean, statInv, statMean, statInv,
        s.countPerChannel() - 1, dx, off)));
    l.add(new Bad("backwardApply dx overlaps x", () -> k.backwardApply(s, x, off, dy, off, g, statMean, statInv, statMean, statInv,
        s.countPerChannel(), x, off + 1)));
    // moments and the moving statistics
    l.add(new Bad("moments channels", () -> k.moments(s, x, off, new Moments(C + 1))));
    l.add(new Bad("moments segment of another thread", () -> k.moments(s, foreignY, 0, moments)));
    l.add(new Bad("update momentum NaN", () -> BatchNorm.updateMovingStatistics(Float.NaN, statMean, statInv, mm, mv)));
    l.add(new Bad("update movingMean == batchVariance", () -> BatchNorm.updateMovingStatistics(0.9f, statMean, mm, mm, mv)));
    l.add(new Bad("update movingVariance == batchMean", () -> BatchNorm.updateMovingStatistics(0.9f, mv, statInv, mm, mv)));
    l.add(new Bad("update movingMean == movingVariance", () -> BatchNorm.updateMovingStatistics(0.9f, statMean, statInv, mm, mm)));
    l.add(new Bad("update unbiased count 1", () -> BatchNorm.updateMovingStatistics(0.9f, statMean, statInv, mm, mv, 1, MovingVariance.UNBIASED)));
    l.add(new Bad("update movingVariance length", () -> BatchNorm.updateMovingStatistics(0.9f, statMean, statInv, mm, wrong)));
    // fused ReLU
    l.add(new Bad("relu forward y overlaps residual", () -> BatchNormRelu.forwardTraining(s, x, off, res, off, g, b, e, res, off + 1, mean, var, inv)));
    l.add(new Bad("relu forward batchMean == gamma", () -> BatchNormRelu.forwardTraining(s, x, off, res, off, g, b, e, y, off, g, var, inv)));
    l.add(new Bad("relu inference y overlaps x", () -> BatchNormRelu.forwardInference(s, x, off, null, 0, g, b, statMean, statInv, e, x, off - 1)));
    l.add(new Bad("relu backward dResidual == dx", () -> BatchNormRelu.backward(s, x, off, res, off, dy, off, g, statMean, statInv, dx, off,
        dx, off, dG, dB)));
    l.add(new Bad("relu backward dResidual overlaps x", () -> BatchNormRelu.backward(s, x, off, res, off, dy, off, g, statMean, statInv, dx, off,
        x, off + 1, dG, dB)));
    l.add(new Bad("relu backward dResidual is y", () -> BatchNormRelu.backward(s, x, off, res, off, dy, off, g, statMean, statInv, dx, off,
        res, off, dG, dB)));
    l.add(new Bad("relu backward dx overlaps y", () -> BatchNormRelu.backward(s, x, off, res, off, dy, off, g, statMean, statInv, res, off - 1,
        null, 0, dG, dB)));
    l.add(new Bad("relu backward dGamma == invStd", () -> BatchNormRelu.backward(s, x, off, res, off, dy, off, g, statMean, statInv, dx, off,
        dRes, off, statInv, dB)));
    // blocked layout
    l.add(new Bad("fromNchw in place", () -> BlockedLayout.fromNchw(bs, conv, off, conv, off)));
    l.add(new Bad("toNhwc overlapping", () -> BlockedLayout.toNhwc(bs, conv, off, conv, off + bs.size() - 1)));
    l.add(new Bad("blocked forward invStd == gamma", () -> BlockedLayout.forwardTraining(bs, xb, off, g, b, e, yb, off, mean, var, g)));
    l.add(new Bad("blocked forward y overlaps x", () -> BlockedLayout.forwardTraining(bs, xb, off, g, b, e, xb, off - 1, mean, var, inv)));
    l.add(new Bad("blocked backward dx overlaps dy", () -> BlockedLayout.backward(bs, xb, off, yb, off, g, statMean, statInv, yb, off + 1, dG, dB)));
    l.add(new Bad("blocked backward dBeta == batchMean", () -> BlockedLayout.backward(bs, xb, off, xb, off, g, statMean, statInv, yb, off, dG,
        statMean)));
    // parallel: the shared checks
    l.add(new Bad("parallel forward batchMean == gamma", () -> par.forwardTraining(s, x, off, g, b, e, y, off, g, var, inv)));
    l.add(new Bad("parallel forward y overlaps x", () -> par.forwardTraining(s, x, off, g, b, e, x, off + 1, mean, var, inv)));
    l.add(new Bad("parallel backward dBeta == batchMean", () -> par.backward(s, x, off, dy, off, g, statMean, statInv, dx, off, dG, statMean)));
    l.add(new Bad("parallel relu forward y overlaps residual", () -> par.forwardTrainingRelu(s, x, off, res, off, g, b, e, res, off - 1, mean,
        var, inv)));
    l.add(new Bad("parallel relu backward dResidual == dx", () -> par.backwardRelu(s, x, off, res, off, dy, off, g, statMean, statInv, dx, off,
        dx, off, dG, dB)));
    l.add(new Bad("parallel relu backward dResidual overlaps dy", () -> par.backwardRelu(s, x, off, res, off, dy, off, g, statMean, statInv, dx,
        off, dy, off + 1, dG, dB)));
    return l;
  }

  /** The sentinel payloads survive a float[] store and load, so a change in any bit is seen. */
  @Test
  void sentinelsKeepTheirBits() {
    float[] a = sentinels(100, 5), copy = a.clone();
    for (int i = 0; i < a.length; i++) {
      assertEquals(Float.floatToRawIntBits(copy[i]), Float.floatToRawIntBits(a[i]));
      assertEquals(0x7fc00000 | ((5 << 16 ^ i) & 0x3fffff), Float.floatToRawIntBits(a[i]));
    }
  }
}
