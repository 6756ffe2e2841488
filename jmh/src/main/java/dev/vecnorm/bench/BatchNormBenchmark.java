package dev.vecnorm.bench;

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
 * The batch-norm operations over the shapes of the suite. Concrete subclasses are the variants
 * measured side by side: {@code Vector} (library, Vector API), {@code Scalar} (library, forced scalar),
 * {@code Naive} (textbook Java) and {@code Bandwidth} (streaming probe). Scores are microseconds per
 * call; {@code Report} turns them into elements/s, GB/s and ratios.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public abstract class BatchNormBenchmark {

  @Param({
      "NHWC:64x56x56x64", "NCHW:64x56x56x64",
      "NHWC:32x14x14x256", "NCHW:32x14x14x256",
      "NHWC:32x7x7x2048", "NCHW:32x7x7x2048",
      "NC:256x1024", "NC:8192x256",
      "NHWC:7x13x13x17", "NCHW:7x13x13x17"})
  public String shape;

  protected Workload w;
  protected Ops ops;

  protected abstract Ops createOps();

  @Setup(Level.Trial)
  public void setUp() {
    w = new Workload(shape);
    ops = createOps();
    ops.trainingForward(w); // statistics for inference and backward come from a real forward
  }

  @Benchmark
  public Object statistics() {
    return ops.statistics(w);
  }

  @Benchmark
  public Object trainingForward() {
    return ops.trainingForward(w);
  }

  @Benchmark
  public Object inferenceForward() {
    return ops.inferenceForward(w);
  }

  @Benchmark
  public Object backward() {
    return ops.backward(w);
  }

  @Benchmark
  public Object movingUpdate() {
    return ops.movingUpdate(w);
  }

  @Benchmark
  public Object trainingStep() {
    return ops.trainingStep(w);
  }
}
