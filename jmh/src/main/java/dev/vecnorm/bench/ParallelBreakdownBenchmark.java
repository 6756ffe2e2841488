package dev.vecnorm.bench;

import dev.vecnorm.BatchNorm;
import dev.vecnorm.Moments;
import dev.vecnorm.NormShape;
import dev.vecnorm.ParallelBatchNorm;
import dev.vecnorm.internal.BatchNormSupport;
import dev.vecnorm.internal.ChunkJob;
import dev.vecnorm.internal.SpinPool;
import dev.vecnorm.internal.VectorizationProvider;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Where a 2-thread training forward's time goes (issue 9, item 3): the single-threaded pieces of
 * {@link ParallelBatchNorm}'s channels-last training forward, each on the same data, so that
 * {@code parallel(2) - max(half moments) - merge - max(half normalize)} is what the hand-offs and the
 * second CPU cost.
 * <ul>
 *   <li>{@code momentsWhole}: the kernel's moments of the whole tensor, as {@link BatchNorm} calls it
 *       (no mean residual);</li>
 *   <li>{@code momentsHalf}: the moments of the first half's rows with the mean residual, as one
 *       chunk of a 2-chunk plan is computed;</li>
 *   <li>{@code momentsHalfPlain}: the same without the mean residual, as {@link BatchNorm} asks: the
 *       difference is what a chunk pays for the residual its merge needs;</li>
 *   <li>{@code momentsSerial}: {@code ParallelBatchNorm(1).moments}: every chunk's moments on one
 *       thread, then the merge: minus twice {@code momentsHalf} it is the merge;</li>
 *   <li>{@code momentsParallel}: the same on 2 threads;</li>
 *   <li>{@code normalizeWhole}, {@code normalizeHalf}: the kernel's normalize of all rows and of half;</li>
 *   <li>{@code normalizeHalfFolded}: half's rows through {@link BatchNormSupport#normalizeFolded} with the
 *       coefficients folded beforehand, as a 2-chunk training forward's normalize chunk runs: minus
 *       {@code normalizeHalf} it is what the kernel's per-call fold costs;</li>
 *   <li>{@code handOff}: one {@link SpinPool} loop of 2 empty chunks with one spinning worker: the
 *       round trip of a hand-off when the worker is awake.</li>
 * </ul>
 * The ceiling rows: what two threads can give on this machine at all, for perfectly parallel work on
 * the same tensor, with the same hand-off ({@link SpinPool}, one spinning worker, the caller runs a
 * chunk too). Each {@code ceiling*2} row runs the two row halves as 2 chunks of one loop; its
 * {@code ceiling*1} partner runs the same two chunks on the caller alone (the same work and calls):
 * <ul>
 *   <li>{@code ceilingInference1/2}: the kernel's normalize of each half with given statistics (inference forward's work: read x, write y);</li>
 *   <li>{@code ceilingMoments1/2}: the kernel's moments of each half into its own arrays (read x only, no merge);</li>
 *   <li>{@code ceilingTraining1/2}: each half's moments then its normalize with the whole tensor's
 *       statistics, in one loop: a training forward's data traffic with no merge and one hand-off.</li>
 *   <li>{@code ceilingBackward1/2}: each half's backward reduce then its apply (with the whole tensor's sums), in one
 *       loop: a backward's data traffic with no merge and one hand-off; against {@code singleBackward}
 *       ({@link BatchNorm#backward}) and {@code parallelBackward} ({@code ParallelBatchNorm(2)}), with
 *       {@code reduceHalf} and {@code applyHalf}, one chunk's kernel calls alone.</li>
 * </ul>
 * {@code single} is {@link BatchNorm#forwardTraining}, {@code serial} {@code ParallelBatchNorm(1)}'s (the
 * chunked path on the caller alone: minus {@code ceilingTraining1} it is the merge and the call's
 * bookkeeping) and {@code parallel} {@code ParallelBatchNorm(2)}'s,
 * so the ratios to compare come from one run.
 * Channels-last shapes only (rows are split in halves).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 5, time = 200, timeUnit = TimeUnit.MILLISECONDS)
@Measurement(iterations = 10, time = 200, timeUnit = TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xms2g", "-Xmx2g", "-XX:+AlwaysPreTouch"})
public class ParallelBreakdownBenchmark {
  @Param({"NC:256x1024"})
  public String shape;

  private static final ChunkJob.Body EMPTY = i -> {};
  private static final int INFERENCE = 0, MOMENTS = 1, TRAINING = 2, BACKWARD = 3;

  Workload w;
  BatchNormSupport impl;
  ParallelBatchNorm one, two;
  SpinPool pool;
  Moments moments;
  float[] residual;
  /** {@code [alpha | shift | mean]} of the workload's statistics, for {@link #normalizeHalfFolded}. */
  float[] folded;
  int rows, channels, half;
  /** The halves' shapes (the second gets the odd row) and their own moments outputs. */
  NormShape[] halves;
  float[][] halfMean, halfResidual, halfVariance;
  /** The halves' own backward sums (the ceiling's reduce; its apply uses the whole tensor's, {@link #sumDy}). */
  float[][] halfDy, halfDyXhat;
  float[] sumDy, sumDyXhat;
  int op;
  /** One body for every ceiling loop (allocated once: no lambda per call); {@link #op} picks the work. */
  final ChunkJob.Body ceiling = this::ceilingChunk;

  @Setup(Level.Trial)
  public void setUp() {
    w = new Workload(shape);
    NormShape s = w.shape;
    if (s.inner() != 1) throw new IllegalArgumentException("channels-last shapes only, got " + shape);
    impl = VectorizationProvider.get();
    one = new ParallelBatchNorm(1);
    two = new ParallelBatchNorm(2);
    pool = new SpinPool(1, "breakdown");
    rows = s.outer();
    channels = s.channels();
    half = rows / 2;
    moments = new Moments(channels);
    residual = new float[channels];
    halves = new NormShape[] {new NormShape(half, channels, 1), new NormShape(rows - half, channels, 1)};
    halfMean = new float[2][channels];
    halfResidual = new float[2][channels];
    halfVariance = new float[2][channels];
    halfDy = new float[2][channels];
    halfDyXhat = new float[2][channels];
    sumDy = new float[channels];
    sumDyXhat = new float[channels];
    impl.backwardReduce(w.x, 0, w.dy, 0, rows, channels, 1, w.mean, w.invStd, sumDy, sumDyXhat);
    BatchNorm.forwardTraining(s, w.x, 0, w.gamma, w.beta, Workload.EPSILON, w.y, 0, w.mean, w.variance, w.invStd);
    folded = new float[3 * channels];
    for (int c = 0; c < channels; c++) {
      folded[c] = w.gamma[c] * w.invStd[c];
      folded[channels + c] = w.beta[c];
      folded[2 * channels + c] = w.mean[c];
    }
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    one.close();
    two.close();
    pool.close();
  }

  @Benchmark
  public Object momentsWhole() {
    impl.moments(w.x, 0, rows, channels, 1, w.movingMean, null, w.movingVariance);
    return w.movingVariance;
  }

  @Benchmark
  public Object momentsHalf() {
    impl.moments(w.x, 0, half, channels, 1, w.movingMean, residual, w.movingVariance);
    return w.movingVariance;
  }

  @Benchmark
  public Object momentsHalfPlain() {
    impl.moments(w.x, 0, half, channels, 1, w.movingMean, null, w.movingVariance);
    return w.movingVariance;
  }

  @Benchmark
  public Object momentsSerial() {
    one.moments(w.shape, w.x, 0, moments);
    return moments;
  }

  @Benchmark
  public Object momentsParallel() {
    two.moments(w.shape, w.x, 0, moments);
    return moments;
  }

  @Benchmark
  public Object normalizeWhole() {
    impl.normalize(w.x, 0, w.y, 0, rows, channels, 1, w.mean, w.invStd, false, Workload.EPSILON, w.gamma, w.beta);
    return w.y;
  }

  @Benchmark
  public Object normalizeHalf() {
    impl.normalize(w.x, 0, w.y, 0, half, channels, 1, w.mean, w.invStd, false, Workload.EPSILON, w.gamma, w.beta);
    return w.y;
  }

  @Benchmark
  public Object normalizeHalfFolded() {
    impl.normalizeFolded(w.x, 0, w.y, 0, half, channels, folded);
    return w.y;
  }

  @Benchmark
  public void handOff() {
    pool.run(EMPTY, 2);
  }

  /** The backward reduce of the first half's rows, as one chunk of a 2-chunk plan runs it. */
  @Benchmark
  public Object reduceHalf() {
    impl.backwardReduce(w.x, 0, w.dy, 0, half, channels, 1, w.mean, w.invStd, halfDy[0], halfDyXhat[0]);
    return halfDyXhat[0];
  }

  /** The backward apply of the first half's rows, as one chunk of a 2-chunk plan runs it. */
  @Benchmark
  public Object applyHalf() {
    impl.backwardApply(w.x, 0, w.dy, 0, w.dx, 0, half, channels, 1, w.mean, w.invStd, w.gamma, sumDy, sumDyXhat, rows);
    return w.dx;
  }

  private void ceilingChunk(int i) {
    NormShape h = halves[i];
    int at = i * half * channels;
    if (op == BACKWARD) { // each half's reduce into its own sums, then its apply with the whole tensor's: no merge
      impl.backwardReduce(w.x, at, w.dy, at, h.outer(), channels, 1, w.mean, w.invStd, halfDy[i], halfDyXhat[i]);
      impl.backwardApply(w.x, at, w.dy, at, w.dx, at, h.outer(), channels, 1, w.mean, w.invStd, w.gamma, sumDy, sumDyXhat, rows);
      return;
    }
    if (op != INFERENCE) impl.moments(w.x, at, h.outer(), channels, 1, halfMean[i], halfResidual[i], halfVariance[i]);
    if (op != MOMENTS) {
      impl.normalize(w.x, at, w.y, at, h.outer(), channels, 1, w.mean, w.invStd, false, Workload.EPSILON, w.gamma, w.beta);
    }
  }

  private Object ceiling(int what, int threads) {
    op = what;
    if (threads == 2) {
      pool.run(ceiling, 2);
    } else {
      ceiling.run(0);
      ceiling.run(1);
    }
    return w.y;
  }

  @Benchmark
  public Object ceilingInference1() {
    return ceiling(INFERENCE, 1);
  }

  @Benchmark
  public Object ceilingInference2() {
    return ceiling(INFERENCE, 2);
  }

  @Benchmark
  public Object ceilingMoments1() {
    return ceiling(MOMENTS, 1);
  }

  @Benchmark
  public Object ceilingMoments2() {
    return ceiling(MOMENTS, 2);
  }

  @Benchmark
  public Object ceilingTraining1() {
    return ceiling(TRAINING, 1);
  }

  @Benchmark
  public Object ceilingTraining2() {
    return ceiling(TRAINING, 2);
  }

  @Benchmark
  public Object ceilingBackward1() {
    ceiling(BACKWARD, 1);
    return w.dx;
  }

  @Benchmark
  public Object ceilingBackward2() {
    ceiling(BACKWARD, 2);
    return w.dx;
  }

  @Benchmark
  public Object singleBackward() {
    BatchNorm.backward(w.shape, w.x, 0, w.dy, 0, w.gamma, w.mean, w.invStd, w.dx, 0, w.dGamma, w.dBeta);
    return w.dx;
  }

  @Benchmark
  public Object parallelBackward() {
    two.backward(w.shape, w.x, 0, w.dy, 0, w.gamma, w.mean, w.invStd, w.dx, 0, w.dGamma, w.dBeta);
    return w.dx;
  }

  @Benchmark
  public Object single() {
    BatchNorm.forwardTraining(w.shape, w.x, 0, w.gamma, w.beta, Workload.EPSILON, w.y, 0, w.mean, w.variance, w.invStd);
    return w.y;
  }

  @Benchmark
  public Object serial() {
    one.forwardTraining(w.shape, w.x, 0, w.gamma, w.beta, Workload.EPSILON, w.y, 0, w.mean, w.variance, w.invStd);
    return w.y;
  }

  @Benchmark
  public Object parallel() {
    two.forwardTraining(w.shape, w.x, 0, w.gamma, w.beta, Workload.EPSILON, w.y, 0, w.mean, w.variance, w.invStd);
    return w.y;
  }
}
