package dev.vecnorm.bench;

import dev.vecnorm.layers.BatchNormalization;
import dev.vecnorm.layers.Tensor;
import java.util.SplittableRandom;
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
import org.openjdk.jmh.annotations.Warmup;

/**
 * The BatchNormalization layer's training step (call with training=true, then backward) with and without
 * virtual batches ({@code virtualBatchSize = 0} means none), on the caller's thread, Vector API kernels:
 * the cost of ghost batch norm over plain batch norm. Rank 2 ({@code 256x512}) runs as one kernel call
 * on the {@code [v, groups * C]} view; NHWC ({@code 32x28x28x64}) per sample block. Microseconds per step
 * (the layer allocates its output and input-gradient tensors, as in training).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xms1g", "-Xmx1g", "-XX:+AlwaysPreTouch"})
public class GhostBatchNormBenchmark {

  @Param({"256x512", "32x28x28x64"})
  public String shape;

  @Param({"0", "8", "32"})
  public int virtualBatchSize;

  private BatchNormalization layer;
  private Tensor x, dy;

  @Setup(Level.Trial)
  public void setUp() {
    String[] p = shape.split("x");
    int[] dims = new int[p.length];
    int n = 1;
    for (int i = 0; i < p.length; i++) n *= dims[i] = Integer.parseInt(p[i]);
    SplittableRandom r = new SplittableRandom(42);
    float[] a = new float[n], b = new float[n];
    for (int i = 0; i < n; i++) {
      a[i] = (float) (0.5 + 2 * r.nextGaussian());
      b[i] = (float) r.nextGaussian();
    }
    x = new Tensor(dims, a);
    dy = new Tensor(dims, b);
    layer = BatchNormalization.builder().virtualBatchSize(virtualBatchSize == 0 ? null : virtualBatchSize).build();
    layer.call(x, true);
  }

  @Benchmark
  public Tensor trainingStep() {
    layer.call(x, true);
    return layer.backward(dy);
  }
}
