package dev.vecnorm.bench;

import dev.vecnorm.BatchNorm;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Backward out of place ({@code dx} its own tensor) against in place ({@code dx = dy}), same data, same kernel:
 * what the read-for-ownership of {@code dx} costs on tensors beyond the caches (README, "Why out-of-place forward
 * is judged differently on large tensors"). Out of place a Java store to a line not in cache first reads it, so the
 * backward moves 6 tensor-sized transfers (x and dy for the sums, x and dy again for dx, dx read, dx written)
 * against 5 in place, where dx's line was just read as dy.
 *
 * <p>gamma is set to {@code 1 / invStd}, so {@code a = gamma * invStd = 1} and the backward is a projection of dy
 * ({@code dx = dy - mean(dy) - xhat * mean(dy * xhat)}): applied again to its own output it gives the same values,
 * so repeated in-place calls keep finite, normal data (no drift to subnormals that would time something else).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 2, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xms4g", "-Xmx4g", "-XX:+AlwaysPreTouch"})
public class InPlaceBackwardBenchmark {
  @Param({"NHWC:64x56x56x64", "NCHW:8x3x224x224"})
  public String shape;

  Workload w;
  float[] dyInPlace;

  @Setup
  public void setup() {
    w = new Workload(shape);
    new LibraryOps().trainingForward(w); // mean and invStd of x
    for (int c = 0; c < w.gamma.length; c++) w.gamma[c] = 1 / w.invStd[c];
    dyInPlace = w.dy.clone();
  }

  @Benchmark
  public float[] outOfPlace() {
    BatchNorm.backward(w.shape, w.x, 0, w.dy, 0, w.gamma, w.mean, w.invStd, w.dx, 0, w.dGamma, w.dBeta);
    return w.dx;
  }

  @Benchmark
  public float[] inPlace() {
    BatchNorm.backward(w.shape, w.x, 0, dyInPlace, 0, w.gamma, w.mean, w.invStd, dyInPlace, 0, w.dGamma, w.dBeta);
    return dyInPlace;
  }
}
