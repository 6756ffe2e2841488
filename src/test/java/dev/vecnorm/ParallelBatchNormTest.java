package dev.vecnorm;

import static dev.vecnorm.KernelsTest.assertNear;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vecnorm.internal.BatchNormSupport;
import dev.vecnorm.internal.VectorizationProvider;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.AbstractExecutorService;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * 1, 2, 3 and 8 threads (and a caller's executor) give identical bits for every operation, on arrays
 * and on segments; and the concurrency contract: no hang, nothing running after a call, closed means closed.
 */
class ParallelBatchNormTest {

  /** Many chunks (channels-last rows, channels-first slabs, channel blocks of one slab) and one chunk. */
  static final NormShape[] SHAPES = {NormShape.channelsLast(3000, 200), NormShape.channelsFirst(8, 64, 3136),
      NormShape.channelsFirst(1, 40, 20000), NormShape.channelsLast(256, 1024), NormShape.channelsLast(5, 3)};

  /** A tensor that is big enough to be cut into several chunks. */
  static final NormShape LARGE = NormShape.channelsLast(3000, 200);

  record Out(float[] y, float[] mean, float[] var, float[] inv, float[] yInf, float[] dx, float[] dGamma, float[] dBeta,
             float[] extra) {}

  /** Tensor memory for the segment runs: wraps an array's contents, reads one back. */
  interface Mem {
    MemorySegment of(float[] a);

    default float[] read(MemorySegment s) {
      return s.toArray(ValueLayout.JAVA_FLOAT);
    }
  }

  /** Every operation; {@code extra} concatenates the phases, fused ops and moments so all are compared. */
  static Out runAll(ParallelBatchNorm p, NormShape s, float[] x, float[] dy, float[] gamma, float[] beta) {
    int n = (int) s.size(), C = s.channels();
    Out o = new Out(new float[n], new float[C], new float[C], new float[C], new float[n], new float[n], new float[C], new float[C],
        new float[5 * n + 6 * C]);
    p.forwardTraining(s, x, 0, gamma, beta, 1e-3f, o.y(), 0, o.mean(), o.var(), o.inv());
    p.forwardInference(s, x, 0, gamma, beta, o.mean(), o.var(), 1e-3f, o.yInf(), 0);
    p.backward(s, x, 0, dy, 0, gamma, o.mean(), o.inv(), o.dx(), 0, o.dGamma(), o.dBeta());
    float[] e = o.extra();
    Moments m = new Moments(C);
    p.moments(s, x, 0, m);
    for (int c = 0; c < C; c++) {
      e[5 * n + c] = (float) m.mean(c);
      e[5 * n + C + c] = (float) m.m2(c);
    }
    float[] sumDy = new float[C], sumDyXhat = new float[C], tmp = new float[n];
    p.normalize(s, x, 0, o.mean(), o.inv(), gamma, beta, tmp, 0);
    System.arraycopy(tmp, 0, e, 0, n);
    p.backwardReduce(s, x, 0, dy, 0, o.mean(), o.inv(), sumDy, sumDyXhat);
    System.arraycopy(sumDy, 0, e, 5 * n + 2 * C, C);
    System.arraycopy(sumDyXhat, 0, e, 5 * n + 3 * C, C);
    p.backwardApply(s, x, 0, dy, 0, gamma, o.mean(), o.inv(), sumDy, sumDyXhat, s.countPerChannel(), tmp, 0);
    System.arraycopy(tmp, 0, e, n, n);
    float[] yRelu = new float[n], mean2 = new float[C], var2 = new float[C], inv2 = new float[C];
    p.forwardTrainingRelu(s, x, 0, dy, 0, gamma, beta, 1e-3f, yRelu, 0, mean2, var2, inv2);
    System.arraycopy(yRelu, 0, e, 2 * n, n);
    p.forwardInferenceRelu(s, x, 0, null, 0, gamma, beta, mean2, var2, 1e-3f, tmp, 0);
    System.arraycopy(tmp, 0, e, 3 * n, n);
    float[] dRes = new float[n], dG = new float[C], dB = new float[C];
    p.backwardRelu(s, x, 0, yRelu, 0, dy, 0, gamma, mean2, inv2, tmp, 0, dRes, 0, dG, dB);
    System.arraycopy(tmp, 0, e, 4 * n, n);
    System.arraycopy(dG, 0, e, 5 * n + 4 * C, C);
    System.arraycopy(dB, 0, e, 5 * n + 5 * C, C);
    return o;
  }

  /** {@link #runAll} through the MemorySegment overloads, tensors in {@code mem}. */
  static Out runAllSegments(ParallelBatchNorm p, NormShape s, float[] xa, float[] dya, float[] gamma, float[] beta, Mem mem) {
    int n = (int) s.size(), C = s.channels();
    MemorySegment x = mem.of(xa), dy = mem.of(dya), y = mem.of(new float[n]), yInf = mem.of(new float[n]), dx = mem.of(new float[n]),
        tmp = mem.of(new float[n]);
    float[] mean = new float[C], var = new float[C], inv = new float[C], dGamma = new float[C], dBeta = new float[C];
    float[] e = new float[5 * n + 6 * C];
    p.forwardTraining(s, x, 0, gamma, beta, 1e-3f, y, 0, mean, var, inv);
    p.forwardInference(s, x, 0, gamma, beta, mean, var, 1e-3f, yInf, 0);
    p.backward(s, x, 0, dy, 0, gamma, mean, inv, dx, 0, dGamma, dBeta);
    Moments m = new Moments(C);
    p.moments(s, x, 0, m);
    for (int c = 0; c < C; c++) {
      e[5 * n + c] = (float) m.mean(c);
      e[5 * n + C + c] = (float) m.m2(c);
    }
    float[] sumDy = new float[C], sumDyXhat = new float[C];
    p.normalize(s, x, 0, mean, inv, gamma, beta, tmp, 0);
    System.arraycopy(mem.read(tmp), 0, e, 0, n);
    p.backwardReduce(s, x, 0, dy, 0, mean, inv, sumDy, sumDyXhat);
    System.arraycopy(sumDy, 0, e, 5 * n + 2 * C, C);
    System.arraycopy(sumDyXhat, 0, e, 5 * n + 3 * C, C);
    p.backwardApply(s, x, 0, dy, 0, gamma, mean, inv, sumDy, sumDyXhat, s.countPerChannel(), tmp, 0);
    System.arraycopy(mem.read(tmp), 0, e, n, n);
    MemorySegment yRelu = mem.of(new float[n]);
    float[] mean2 = new float[C], var2 = new float[C], inv2 = new float[C];
    p.forwardTrainingRelu(s, x, 0, dy, 0, gamma, beta, 1e-3f, yRelu, 0, mean2, var2, inv2);
    System.arraycopy(mem.read(yRelu), 0, e, 2 * n, n);
    p.forwardInferenceRelu(s, x, 0, null, 0, gamma, beta, mean2, var2, 1e-3f, tmp, 0);
    System.arraycopy(mem.read(tmp), 0, e, 3 * n, n);
    MemorySegment dRes = mem.of(new float[n]);
    float[] dG = new float[C], dB = new float[C];
    p.backwardRelu(s, x, 0, yRelu, 0, dy, 0, gamma, mean2, inv2, tmp, 0, dRes, 0, dG, dB);
    System.arraycopy(mem.read(tmp), 0, e, 4 * n, n);
    System.arraycopy(dG, 0, e, 5 * n + 4 * C, C);
    System.arraycopy(dB, 0, e, 5 * n + 5 * C, C);
    return new Out(mem.read(y), mean, var, inv, mem.read(yInf), mem.read(dx), dGamma, dBeta, e);
  }

  static void assertSame(Out expected, Out actual, String what) {
    assertArrayEquals(expected.y(), actual.y(), what + ": y");
    assertArrayEquals(expected.mean(), actual.mean(), what + ": mean");
    assertArrayEquals(expected.var(), actual.var(), what + ": variance");
    assertArrayEquals(expected.inv(), actual.inv(), what + ": invStd");
    assertArrayEquals(expected.yInf(), actual.yInf(), what + ": inference y");
    assertArrayEquals(expected.dx(), actual.dx(), what + ": dx");
    assertArrayEquals(expected.dGamma(), actual.dGamma(), what + ": dGamma");
    assertArrayEquals(expected.dBeta(), actual.dBeta(), what + ": dBeta");
    assertArrayEquals(expected.extra(), actual.extra(), what + ": moments, phases and fused ops");
  }

  @Test
  void resultsAreBitwiseIdenticalForAnyThreadCount() throws Exception {
    for (NormShape s : SHAPES) {
      float[] x = Reference.data(s, 0, 1), dy = Reference.data(s, 0, 2);
      float[] gamma = Reference.perChannel(s.channels(), 1, 0.3, 3), beta = Reference.perChannel(s.channels(), 0, 1, 4);
      Out first = null;
      for (int threads : new int[] {1, 2, 3, 8}) {
        try (ParallelBatchNorm p = new ParallelBatchNorm(threads)) {
          Out o = runAll(p, s, x, dy, gamma, beta);
          if (first == null) first = o;
          else assertSame(first, o, s + ", " + threads + " threads");
          assertSame(first, runAll(p, s, x, dy, gamma, beta), s + ", " + threads + " threads, second call (reused chunk state)");
        }
      }
      ExecutorService own = Executors.newFixedThreadPool(5);
      try {
        assertSame(first, runAll(new ParallelBatchNorm(own), s, x, dy, gamma, beta), s + ", caller's executor");
      } finally {
        own.shutdownNow();
      }
      // Against the single-pass kernels: same values to float rounding (merge order differs).
      int C = s.channels();
      float[] y = new float[x.length], mean = new float[C], var = new float[C], inv = new float[C];
      BatchNorm.forwardTraining(s, x, 0, gamma, beta, 1e-3f, y, 0, mean, var, inv);
      assertNear(mean, first.mean(), 1e-5);
      assertNear(var, first.var(), 1e-4);
      assertNear(y, first.y(), 1e-4);
    }
  }

  /**
   * Every segment overload: a float[]-backed heap segment runs on its array (the array bits); native
   * segments, shared or confined to the caller, give the same bits for any thread count and agree with
   * the array results to float rounding (staging merges chunk statistics in its own order).
   */
  @Test
  void segmentOverloadsMatchArraysForAnyThreadCount() {
    for (NormShape s : new NormShape[] {NormShape.channelsLast(600, 1000), NormShape.channelsFirst(1, 40, 20000),
        NormShape.channelsFirst(3, 64, 3136), NormShape.channelsLast(5, 3)}) {
      float[] x = Reference.data(s, 0, 5), dy = Reference.data(s, 0, 6);
      float[] gamma = Reference.perChannel(s.channels(), 1, 0.3, 7), beta = Reference.perChannel(s.channels(), 0, 1, 8);
      try (ParallelBatchNorm one = new ParallelBatchNorm(1); Arena shared = Arena.ofShared(); Arena confined = Arena.ofConfined()) {
        Out arrays = runAll(one, s, x, dy, gamma, beta);
        Mem heap = a -> MemorySegment.ofArray(a.clone());
        Mem nativeShared = a -> shared.allocate((long) a.length * 4, 64).copyFrom(MemorySegment.ofArray(a));
        Mem nativeConfined = a -> confined.allocate((long) a.length * 4, 64).copyFrom(MemorySegment.ofArray(a));
        assertSame(arrays, runAllSegments(one, s, x, dy, gamma, beta, heap), s + " heap segments");
        Out nat = runAllSegments(one, s, x, dy, gamma, beta, nativeShared);
        for (int threads : new int[] {2, 3}) {
          try (ParallelBatchNorm p = new ParallelBatchNorm(threads)) {
            assertSame(arrays, runAllSegments(p, s, x, dy, gamma, beta, heap), s + " heap segments, " + threads + " threads");
            assertSame(nat, runAllSegments(p, s, x, dy, gamma, beta, nativeShared), s + " native, " + threads + " threads");
            assertSame(nat, runAllSegments(p, s, x, dy, gamma, beta, nativeConfined), s + " confined, " + threads + " threads");
          }
        }
        ExecutorService own = Executors.newFixedThreadPool(3);
        try {
          assertSame(nat, runAllSegments(new ParallelBatchNorm(own), s, x, dy, gamma, beta, nativeShared), s + " native, executor");
        } finally {
          own.shutdownNow();
        }
        assertNear(arrays.y(), nat.y(), 1e-4);
        assertNear(arrays.var(), nat.var(), 1e-4);
        assertNear(arrays.dx(), nat.dx(), 1e-3);
        assertNear(arrays.extra(), nat.extra(), 1e-3);
      }
    }
  }

  /**
   * A tensor of one chunk runs the single-threaded kernels directly on any thread count (no merge into
   * double and back): training forward, moments and backward have BatchNorm's bits exactly.
   */
  @Test
  void oneChunkTensorsHaveBatchNormsBitsOnAnyThreadCount() {
    for (NormShape s : new NormShape[] {NormShape.channelsLast(5, 3), NormShape.channelsLast(100, 1000),
        NormShape.channelsFirst(2, 3, 16 * 16), NormShape.channelsFirst(2, 3, 4099)}) {
      assertEquals(1, ParallelBatchNorm.Plan.of(s).count(), s + " is one chunk");
      int n = (int) s.size(), C = s.channels();
      float[] x = Reference.data(s, 0, 51), dy = Reference.data(s, 0, 52);
      float[] gamma = Reference.perChannel(C, 1, 0.3, 53), beta = Reference.perChannel(C, 0, 1, 54);
      float[] y = new float[n], mean = new float[C], var = new float[C], inv = new float[C];
      BatchNorm.forwardTraining(s, x, 0, gamma, beta, 1e-3f, y, 0, mean, var, inv);
      float[] dx = new float[n], dGamma = new float[C], dBeta = new float[C];
      BatchNorm.backward(s, x, 0, dy, 0, gamma, mean, inv, dx, 0, dGamma, dBeta);
      Moments m = new Moments(C);
      BatchNorm.moments(s, x, 0, m);
      for (int threads : new int[] {1, 2, 3}) {
        try (ParallelBatchNorm p = new ParallelBatchNorm(threads)) {
          String what = s + ", " + threads + " threads";
          float[] py = new float[n], pMean = new float[C], pVar = new float[C], pInv = new float[C];
          p.forwardTraining(s, x, 0, gamma, beta, 1e-3f, py, 0, pMean, pVar, pInv);
          assertArrayEquals(mean, pMean, what + ": mean");
          assertArrayEquals(var, pVar, what + ": variance");
          assertArrayEquals(y, py, what + ": y");
          float[] pdx = new float[n], pdGamma = new float[C], pdBeta = new float[C];
          p.backward(s, x, 0, dy, 0, gamma, mean, inv, pdx, 0, pdGamma, pdBeta);
          assertArrayEquals(dx, pdx, what + ": dx");
          assertArrayEquals(dGamma, pdGamma, what + ": dGamma");
          assertArrayEquals(dBeta, pdBeta, what + ": dBeta");
          Moments pm = new Moments(C);
          p.moments(s, x, 0, pm);
          for (int c = 0; c < C; c++) {
            assertEquals(m.mean(c), pm.mean(c), what + ": moments mean " + c);
            assertEquals(m.m2(c), pm.m2(c), what + ": moments m2 " + c);
          }
        }
      }
    }
  }

  /** Chunks tile the tensor in memory order, and a 1 MiB tensor splits (it stayed on one thread before). */
  @Test
  void partitionTilesTheTensorAndSplitsOneMebibyte() {
    assertTrue(ParallelBatchNorm.Plan.of(NormShape.channelsLast(256, 1024)).count() >= 2, "NC 256x1024 splits, one chunk per thread of two");
    for (NormShape s : new NormShape[] {NormShape.channelsLast(256, 1024), NormShape.channelsLast(7, 100_000),
        NormShape.channelsFirst(64, 64, 3136), NormShape.channelsFirst(3, 5, 70_000), NormShape.channelsLast(1, 1),
        NormShape.channelsLast(200_704, 64)}) {
      ParallelBatchNorm.Plan p = ParallelBatchNorm.Plan.of(s);
      assertTrue(p.count() <= Math.max(ParallelBatchNorm.MAX_CHUNKS, s.outer()), s + ": " + p.count() + " chunks");
      long next = 0;
      for (int i = 0; i < p.count(); i++) {
        assertEquals(next, p.offset()[i], s + " chunk " + i + " starts where the previous ended");
        next += (long) p.outerCount()[i] * p.channelCount()[i] * s.inner();
        if (s.inner() > 1 && p.channelCount()[i] < s.channels()) {
          assertEquals(1, p.outerCount()[i], "a channel block lies within one slab");
        }
      }
      assertEquals(s.size(), next, s + ": chunks cover the tensor");
    }
  }

  @Test
  void segmentOverloadsValidateAsBatchNorm() {
    NormShape s = LARGE;
    int n = (int) s.size(), C = s.channels();
    float[] stats = new float[C], var = new float[C], inv = new float[C];
    try (ParallelBatchNorm p = new ParallelBatchNorm(2); Arena arena = Arena.ofConfined()) {
      MemorySegment x = arena.allocate(4L * n), y = arena.allocate(4L * n), small = arena.allocate(4L * n - 4);
      java.util.Arrays.fill(stats, 42f);
      assertThrows(IllegalArgumentException.class, () -> p.forwardTraining(s, x, 0, null, null, 1e-3f, small, 0, stats, var, inv));
      assertThrows(IllegalArgumentException.class, () -> p.forwardTraining(s, x, 0, null, null, 1e-3f, x, 4, stats, var, inv));
      assertThrows(IllegalArgumentException.class, () -> p.forwardTraining(s, x, 0, null, null, 1e-3f, x.asReadOnly(), 0, stats, var, inv));
      assertThrows(IllegalArgumentException.class,
          () -> p.backwardRelu(s, x, 0, x, 0, y, 0, null, stats, inv, y, 0, y, 0, null, null), "dResidual == dx");
      assertThrows(IllegalArgumentException.class,
          () -> p.forwardTrainingRelu(s, x, 0, y, 4, null, null, 1e-3f, y, 0, stats, var, inv), "y overlaps residual");
      assertEquals(42f, stats[0], "nothing written by a rejected call");
    }
  }

  // ------------------------------------------------------------------ concurrency (issue 10.4)

  /** The single-threaded reference bits for {@link #LARGE}'s training forward. */
  static float[][] trainingForward(ParallelBatchNorm p, float[] x) {
    int C = LARGE.channels();
    float[] y = new float[x.length], mean = new float[C], var = new float[C], inv = new float[C];
    p.forwardTraining(LARGE, x, 0, null, null, 1e-3f, y, 0, mean, var, inv);
    return new float[][] {y, mean, var};
  }

  /** Two tasks of a 2-thread pool call through that pool: the callers run their own chunks, no deadlock. */
  @Test
  void callsFromTasksOfTheSameSaturatedPoolDoNotDeadlock() throws Exception {
    float[] x = Reference.data(LARGE, 0, 9);
    float[][] expected;
    try (ParallelBatchNorm one = new ParallelBatchNorm(1)) {
      expected = trainingForward(one, x);
    }
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try {
      ParallelBatchNorm p = new ParallelBatchNorm(pool);
      assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
        List<Future<float[][]>> tasks = new ArrayList<>();
        for (int t = 0; t < 2; t++) tasks.add(pool.submit(() -> trainingForward(p, x)));
        for (Future<float[][]> f : tasks) assertArrayEquals(expected[0], f.get()[0]);
      });
    } finally {
      pool.shutdownNow();
    }
  }

  /** An interrupted caller completes the call, keeps its interrupt status, and nothing writes afterwards. */
  @Test
  void interruptedCallerCompletesAndNothingWritesAfterReturn() throws Exception {
    float[] x = Reference.data(LARGE, 0, 10);
    float[][] expected;
    try (ParallelBatchNorm one = new ParallelBatchNorm(1)) {
      expected = trainingForward(one, x);
    }
    ExecutorService slow = Executors.newFixedThreadPool(2);
    try (ParallelBatchNorm owned = new ParallelBatchNorm(2)) {
      for (ParallelBatchNorm p : new ParallelBatchNorm[] {owned, new ParallelBatchNorm(slow)}) {
        assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
          int C = LARGE.channels();
          float[] y = new float[x.length], mean = new float[C], var = new float[C], inv = new float[C];
          Thread.currentThread().interrupt();
          try {
            p.forwardTraining(LARGE, x, 0, null, null, 1e-3f, y, 0, mean, var, inv);
            assertTrue(Thread.currentThread().isInterrupted(), "interrupt status kept");
          } finally {
            Thread.interrupted();
          }
          float[] snapshot = y.clone();
          Thread.sleep(150);
          assertArrayEquals(snapshot, y, "no chunk writes y after the call returned");
          assertArrayEquals(expected[0], y, "the call completed");
        });
      }
    } finally {
      slow.shutdownNow();
    }
  }

  /**
   * An executor that rejects some helpers, and runs the accepted one late: the caller runs the chunks,
   * cancels the late helper, and the call returns complete with nothing left to write.
   */
  @Test
  void rejectingOrLateExecutorLeavesNothingRunning() throws Exception {
    float[] x = Reference.data(LARGE, 0, 11);
    float[][] expected;
    try (ParallelBatchNorm one = new ParallelBatchNorm(1)) {
      expected = trainingForward(one, x);
    }
    ExecutorService delegate = Executors.newSingleThreadExecutor();
    AtomicInteger submissions = new AtomicInteger();
    CountDownLatch release = new CountDownLatch(1);
    ExecutorService rejecting = new AbstractExecutorService() {
      @Override public void execute(Runnable r) {
        if (submissions.incrementAndGet() % 2 == 0) throw new RejectedExecutionException("full");
        delegate.execute(r);
      }
      @Override public void shutdown() {}
      @Override public List<Runnable> shutdownNow() { return List.of(); }
      @Override public boolean isShutdown() { return false; }
      @Override public boolean isTerminated() { return false; }
      @Override public boolean awaitTermination(long t, TimeUnit u) { return false; }
    };
    try {
      delegate.execute(() -> { // keeps the one thread busy, so accepted helpers start late
        try {
          release.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      });
      ParallelBatchNorm p = new ParallelBatchNorm(rejecting);
      assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
        for (int call = 0; call < 3; call++) {
          float[][] got = trainingForward(p, x);
          assertArrayEquals(expected[0], got[0], "call " + call);
          float[] snapshot = got[0].clone();
          if (call == 1) release.countDown(); // the late helpers may start now: they must find nothing to do
          Thread.sleep(100);
          assertArrayEquals(snapshot, got[0], "nothing writes y after the call returned");
        }
      });
    } finally {
      release.countDown();
      delegate.shutdownNow();
    }
  }

  /**
   * A chunk that fails: the call rethrows its exception only after every other started chunk has
   * finished (none is running when the call has thrown), and the instance keeps working.
   */
  @Test
  void aFailingChunkThrowsAfterEveryStartedChunkHasFinished() {
    BatchNormSupport real = VectorizationProvider.get();
    AtomicInteger running = new AtomicInteger(), calls = new AtomicInteger();
    BatchNormSupport failing = new BatchNormSupport() {
      @Override public String name() { return "failing"; }
      @Override public void moments(float[] x, int xo, int outer, int channels, int inner, float[] mean, float[] residual,
                                    float[] variance) {
        real.moments(x, xo, outer, channels, inner, mean, residual, variance);
      }
      @Override public void normalize(float[] x, int xo, float[] y, int yo, int outer, int channels, int inner, float[] mean,
                                      float[] scale, boolean fromVariance, float epsilon, float[] gamma, float[] beta) {
        slowOrFailing(() -> real.normalize(x, xo, y, yo, outer, channels, inner, mean, scale, fromVariance, epsilon, gamma, beta));
      }
      // The training forward's channels-last chunks normalize through this entry.
      @Override public void normalizeFolded(float[] x, int xo, float[] y, int yo, int rows, int channels, float[] coef) {
        slowOrFailing(() -> real.normalizeFolded(x, xo, y, yo, rows, channels, coef));
      }
      private void slowOrFailing(Runnable chunk) {
        running.incrementAndGet();
        try {
          if (calls.incrementAndGet() == 3) throw new IllegalStateException("chunk failed");
          java.util.concurrent.locks.LockSupport.parkNanos(2_000_000); // slow chunks: others are mid-chunk at the failure
          chunk.run();
        } finally {
          running.decrementAndGet();
        }
      }
      @Override public void backwardReduce(float[] x, int xo, float[] dy, int dyo, int outer, int channels, int inner,
                                           float[] mean, float[] invStd, float[] sumDy, float[] sumDyXhat) {
        real.backwardReduce(x, xo, dy, dyo, outer, channels, inner, mean, invStd, sumDy, sumDyXhat);
      }
      @Override public void backwardApply(float[] x, int xo, float[] dy, int dyo, float[] dx, int dxo, int outer, int channels,
                                          int inner, float[] mean, float[] invStd, float[] gamma, float[] sumDy, float[] sumDyXhat,
                                          double count) {
        real.backwardApply(x, xo, dy, dyo, dx, dxo, outer, channels, inner, mean, invStd, gamma, sumDy, sumDyXhat, count);
      }
    };
    float[] x = Reference.data(LARGE, 0, 14);
    try (ParallelBatchNorm p = new ParallelBatchNorm(failing, 3)) {
      assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> trainingForward(p, x));
        assertEquals("chunk failed", e.getMessage());
        assertEquals(0, running.get(), "no chunk still running when the call has thrown");
        calls.set(100);
        float[][] again = trainingForward(p, x);
        try (ParallelBatchNorm one = new ParallelBatchNorm(1)) {
          assertArrayEquals(trainingForward(one, x)[0], again[0], "the instance still works");
        }
      });
    }
  }

  /** One instance shared by several threads at once: each call gets the single-threaded bits. */
  @Test
  void oneInstanceMayBeSharedByThreads() throws Exception {
    float[] x = Reference.data(LARGE, 0, 12);
    NormShape other = NormShape.channelsFirst(4, 16, 5000);
    float[] x2 = Reference.data(other, 0, 13);
    float[][] expected;
    float[] expected2 = new float[x2.length];
    try (ParallelBatchNorm one = new ParallelBatchNorm(1)) {
      expected = trainingForward(one, x);
      one.forwardTraining(other, x2, 0, null, null, 1e-3f, expected2, 0, new float[16], new float[16], new float[16]);
    }
    ExecutorService callers = Executors.newFixedThreadPool(4);
    try (ParallelBatchNorm p = new ParallelBatchNorm(2)) {
      assertTimeoutPreemptively(Duration.ofSeconds(30), () -> {
        List<Future<?>> all = new ArrayList<>();
        for (int t = 0; t < 4; t++) {
          int id = t;
          all.add(callers.submit(() -> {
            for (int i = 0; i < 5; i++) {
              if (id % 2 == 0) {
                assertArrayEquals(expected[0], trainingForward(p, x)[0]);
              } else {
                float[] y = new float[x2.length];
                p.forwardTraining(other, x2, 0, null, null, 1e-3f, y, 0, new float[16], new float[16], new float[16]);
                assertArrayEquals(expected2, y);
              }
            }
            return null;
          }));
        }
        for (Future<?> f : all) f.get();
      });
    } finally {
      callers.shutdownNow();
    }
  }

  /** After close, every operation throws one clear IllegalStateException, for tiny and large tensors alike. */
  @Test
  void closedInstanceThrowsIllegalStateOnEveryOperation() {
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try (Arena arena = Arena.ofConfined()) {
      for (ParallelBatchNorm p : new ParallelBatchNorm[] {new ParallelBatchNorm(2), new ParallelBatchNorm(pool)}) {
        p.close();
        p.close(); // idempotent
        for (NormShape s : new NormShape[] {NormShape.channelsLast(2, 3), LARGE}) {
          int n = (int) s.size(), C = s.channels();
          float[] x = new float[n], y = new float[n], c1 = new float[C], c2 = new float[C], c3 = new float[C], c4 = new float[C];
          MemorySegment xs = arena.allocate(4L * n), ys = arena.allocate(4L * n);
          List<Executable> ops = List.of(
              () -> p.forwardTraining(s, x, 0, null, null, 1e-3f, y, 0, c1, c2, c3),
              () -> p.forwardTraining(s, xs, 0, null, null, 1e-3f, ys, 0, c1, c2, c3),
              () -> p.forwardInference(s, x, 0, null, null, c1, c2, 1e-3f, y, 0),
              () -> p.forwardInference(s, xs, 0, null, null, c1, c2, 1e-3f, ys, 0),
              () -> p.moments(s, x, 0, new Moments(C)),
              () -> p.moments(s, xs, 0, new Moments(C)),
              () -> p.normalize(s, x, 0, c1, c2, null, null, y, 0),
              () -> p.normalize(s, xs, 0, c1, c2, null, null, ys, 0),
              () -> p.backwardReduce(s, x, 0, y, 0, c1, c2, c3, c4),
              () -> p.backwardReduce(s, xs, 0, ys, 0, c1, c2, c3, c4),
              () -> p.backwardApply(s, x, 0, x, 0, null, c1, c2, c3, c4, n, y, 0),
              () -> p.backwardApply(s, xs, 0, xs, 0, null, c1, c2, c3, c4, n, ys, 0),
              () -> p.backward(s, x, 0, x, 0, null, c1, c2, y, 0, c3, c4),
              () -> p.backward(s, xs, 0, xs, 0, null, c1, c2, ys, 0, c3, c4),
              () -> p.forwardTrainingRelu(s, x, 0, null, 0, null, null, 1e-3f, y, 0, c1, c2, c3),
              () -> p.forwardTrainingRelu(s, xs, 0, null, 0, null, null, 1e-3f, ys, 0, c1, c2, c3),
              () -> p.forwardInferenceRelu(s, x, 0, null, 0, null, null, c1, c2, 1e-3f, y, 0),
              () -> p.forwardInferenceRelu(s, xs, 0, null, 0, null, null, c1, c2, 1e-3f, ys, 0),
              () -> p.backwardRelu(s, x, 0, x, 0, x, 0, null, c1, c2, y, 0, null, 0, c3, c4),
              () -> p.backwardRelu(s, xs, 0, xs, 0, xs, 0, null, c1, c2, ys, 0, null, 0, c3, c4));
          for (Executable op : ops) {
            IllegalStateException e = assertThrows(IllegalStateException.class, op, s.toString());
            assertTrue(e.getMessage().contains("closed"), e.getMessage());
          }
          assertEquals(0f, y[0], "nothing written");
        }
      }
    } finally {
      pool.shutdownNow();
    }
  }
}
