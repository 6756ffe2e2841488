package dev.vecnorm.bench;

import dev.vecnorm.MatMul;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
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
 * The Dense layer's matrix multiply, {@code C[m][n] = A[m][k] B[k][n]}, at the demo's and larger
 * shapes ({@code "MxKxN"}). {@code Report} prints GFLOP/s = 2*m*k*n / time. Subclasses
 * {@code MatMulVector} and {@code MatMulScalar} fork with and without the Vector API kernel.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public abstract class MatMulBenchmark {
  @Param({"64x784x100", "64x100x100", "256x1024x1024"})
  public String dims;

  float[] a, b, c;
  int m, k, n;

  @Setup(Level.Trial)
  public void setUp() {
    String[] p = dims.split("x");
    m = Integer.parseInt(p[0]);
    k = Integer.parseInt(p[1]);
    n = Integer.parseInt(p[2]);
    SplittableRandom r = new SplittableRandom(1);
    a = new float[m * k];
    b = new float[k * n];
    c = new float[m * n];
    for (int i = 0; i < a.length; i++) a[i] = (float) r.nextGaussian();
    for (int i = 0; i < b.length; i++) b[i] = (float) r.nextGaussian();
  }

  @Benchmark
  public float[] multiply() {
    MatMul.multiply(a, b, c, m, k, n, false);
    return c;
  }
}
