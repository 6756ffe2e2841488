package dev.vecnorm.bench;

import dev.vecnorm.BatchNorm;
import dev.vecnorm.BatchNormRelu;
import dev.vecnorm.ParallelBatchNorm;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
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
 * Training-throughput features side by side: {@link ParallelBatchNorm} at 1 and 2 threads, and BN+ReLU
 * fused in one pass against BN then a separate (vectorized) ReLU pass, and a (vectorized) mask pass
 * then BN backward; and the parallel operations on native {@link MemorySegment}s against the same
 * data in {@code float[]} ({@code parallel*Segment}).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xms4g", "-Xmx4g", "-XX:+AlwaysPreTouch"})
public class ThroughputBenchmark {
  @Param({"NHWC:64x56x56x64", "NCHW:64x56x56x64", "NC:256x1024"})
  public String shape;

  @Param({"1", "2"})
  public int threads;

  Workload w;
  ParallelBatchNorm parallel;
  float[] masked;
  Arena arena;
  MemorySegment xSeg, ySeg, dySeg, dxSeg;

  @Setup(Level.Trial)
  public void setUp() {
    w = new Workload(shape);
    parallel = new ParallelBatchNorm(threads);
    masked = new float[w.dy.length];
    arena = Arena.ofShared();
    xSeg = nativeCopy(w.x);
    ySeg = nativeCopy(w.y);
    dySeg = nativeCopy(w.dy);
    dxSeg = nativeCopy(w.dx);
    BatchNormRelu.forwardTraining(w.shape, w.x, 0, null, 0, w.gamma, w.beta, Workload.EPSILON, w.y, 0, w.mean, w.variance, w.invStd);
  }

  @TearDown(Level.Trial)
  public void tearDown() {
    parallel.close();
    arena.close();
  }

  private MemorySegment nativeCopy(float[] a) {
    return arena.allocate((long) a.length * Float.BYTES, 64).copyFrom(MemorySegment.ofArray(a));
  }

  @Benchmark
  public Object parallelTrainingForward() {
    parallel.forwardTraining(w.shape, w.x, 0, w.gamma, w.beta, Workload.EPSILON, w.y, 0, w.mean, w.variance, w.invStd);
    return w.y;
  }

  @Benchmark
  public Object parallelBackward() {
    parallel.backward(w.shape, w.x, 0, w.dy, 0, w.gamma, w.mean, w.invStd, w.dx, 0, w.dGamma, w.dBeta);
    return w.dx;
  }

  /**
   * The single-threaded {@link BatchNorm} call on the same data: the baseline the parallel ratios are taken
   * against, in the same run (it ignores {@code threads}; run it with one threads value).
   */
  @Benchmark
  public Object singleTrainingForward() {
    BatchNorm.forwardTraining(w.shape, w.x, 0, w.gamma, w.beta, Workload.EPSILON, w.y, 0, w.mean, w.variance, w.invStd);
    return w.y;
  }

  /** The single-threaded {@link BatchNorm} backward on the same data (see {@link #singleTrainingForward}). */
  @Benchmark
  public Object singleBackward() {
    BatchNorm.backward(w.shape, w.x, 0, w.dy, 0, w.gamma, w.mean, w.invStd, w.dx, 0, w.dGamma, w.dBeta);
    return w.dx;
  }

  @Benchmark
  public Object parallelTrainingForwardSegment() {
    parallel.forwardTraining(w.shape, xSeg, 0, w.gamma, w.beta, Workload.EPSILON, ySeg, 0, w.mean, w.variance, w.invStd);
    return ySeg;
  }

  @Benchmark
  public Object parallelBackwardSegment() {
    parallel.backward(w.shape, xSeg, 0, dySeg, 0, w.gamma, w.mean, w.invStd, dxSeg, 0, w.dGamma, w.dBeta);
    return dxSeg;
  }

  /** Single-threaded; measured once per threads value, compare with threads=1. */
  @Benchmark
  public Object fusedReluForward() {
    BatchNormRelu.forwardTraining(w.shape, w.x, 0, null, 0, w.gamma, w.beta, Workload.EPSILON, w.y, 0, w.mean, w.variance, w.invStd);
    return w.y;
  }

  private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;

  /** The unfused ReLU pass, vectorized so the comparison is about the extra pass, not scalar code. */
  static void relu(float[] y) {
    int i = 0;
    for (; i < SPECIES.loopBound(y.length); i += SPECIES.length()) FloatVector.fromArray(SPECIES, y, i).max(0f).intoArray(y, i);
    for (; i < y.length; i++) y[i] = Math.max(y[i], 0f);
  }

  /** The unfused ReLU backward pass: g = dy where y > 0, else 0 (vectorized). */
  static void reluMask(float[] y, float[] dy, float[] g) {
    int i = 0;
    for (; i < SPECIES.loopBound(y.length); i += SPECIES.length()) {
      FloatVector.zero(SPECIES).blend(FloatVector.fromArray(SPECIES, dy, i), FloatVector.fromArray(SPECIES, y, i).compare(VectorOperators.GT, 0f))
          .intoArray(g, i);
    }
    for (; i < y.length; i++) g[i] = y[i] > 0 ? dy[i] : 0f;
  }

  @Benchmark
  public Object unfusedReluForward() {
    BatchNorm.forwardTraining(w.shape, w.x, 0, w.gamma, w.beta, Workload.EPSILON, w.y, 0, w.mean, w.variance, w.invStd);
    relu(w.y);
    return w.y;
  }

  @Benchmark
  public Object fusedReluBackward() {
    BatchNormRelu.backward(w.shape, w.x, 0, w.y, 0, w.dy, 0, w.gamma, w.mean, w.invStd, w.dx, 0, null, 0, w.dGamma, w.dBeta);
    return w.dx;
  }

  @Benchmark
  public Object unfusedReluBackward() {
    reluMask(w.y, w.dy, masked);
    BatchNorm.backward(w.shape, w.x, 0, masked, 0, w.gamma, w.mean, w.invStd, w.dx, 0, w.dGamma, w.dBeta);
    return w.dx;
  }
}
