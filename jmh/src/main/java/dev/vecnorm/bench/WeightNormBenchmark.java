package dev.vecnorm.bench;

import dev.vecnorm.WeightNorm;
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
 * WeightNorm on Dense kernels {@code [in x units]}: forward ({@code w = g v / ||v||}) and backward
 * ({@code dv}, {@code dg} from {@code dw}). Variants: {@link Vector} (library, Vector API),
 * {@link Scalar} (library, forced scalar), {@link Naive} (textbook Java, double sums, column by column).
 * Microseconds per call.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public abstract class WeightNormBenchmark {

  @Param({"784x256", "4096x1024", "64x10"})
  public String shape;

  protected int rows, cols;
  protected float[] v, g, w, dw, dv, dg;

  @Setup(Level.Trial)
  public void setUp() {
    String[] p = shape.split("x");
    rows = Integer.parseInt(p[0]);
    cols = Integer.parseInt(p[1]);
    SplittableRandom r = new SplittableRandom(42);
    v = random(r, rows * cols, 0, 0.05);
    dw = random(r, rows * cols, 0, 1);
    g = random(r, cols, 1, 0.2);
    w = new float[rows * cols];
    dv = new float[rows * cols];
    dg = new float[cols];
  }

  private static float[] random(SplittableRandom r, int n, double center, double scale) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) a[i] = (float) (center + scale * r.nextGaussian());
    return a;
  }

  @Benchmark
  public float[] forward() {
    return doForward();
  }

  @Benchmark
  public float[] backward() {
    return doBackward();
  }

  protected abstract float[] doForward();

  protected abstract float[] doBackward();

  /** The library's public facade (Vector API or scalar, as the fork's flags choose). */
  public abstract static class Library extends WeightNormBenchmark {
    @Override
    protected float[] doForward() {
      WeightNorm.forward(rows, cols, v, 0, g, w, 0, null);
      return w;
    }

    @Override
    protected float[] doBackward() {
      WeightNorm.backward(rows, cols, v, 0, dw, 0, g, dv, 0, dg);
      return dv;
    }
  }

  /** The library with the Vector API kernels. */
  @Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xms1g", "-Xmx1g", "-XX:+AlwaysPreTouch"})
  public static class Vector extends Library {}

  /** The library forced onto its scalar implementation. */
  @Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xms1g", "-Xmx1g", "-XX:+AlwaysPreTouch",
      "-Dvecnorm.forceScalar=true"})
  public static class Scalar extends Library {}

  /** Textbook Java, double sums: what a port without the library writes. */
  @Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g", "-XX:+AlwaysPreTouch"})
  public static class Naive extends WeightNormBenchmark {
    @Override
    protected float[] doForward() {
      for (int c = 0; c < cols; c++) {
        double sq = 0;
        for (int r = 0; r < rows; r++) sq += (double) v[r * cols + c] * v[r * cols + c];
        double s = g[c] / Math.sqrt(Math.max(sq, 1e-12));
        for (int r = 0; r < rows; r++) w[r * cols + c] = (float) (v[r * cols + c] * s);
      }
      return w;
    }

    @Override
    protected float[] doBackward() {
      for (int c = 0; c < cols; c++) {
        double sq = 0, dot = 0;
        for (int r = 0; r < rows; r++) {
          sq += (double) v[r * cols + c] * v[r * cols + c];
          dot += (double) dw[r * cols + c] * v[r * cols + c];
        }
        double u = 1 / Math.sqrt(Math.max(sq, 1e-12)), a = g[c] * u, b = -g[c] * u * u * u * dot;
        dg[c] = (float) (u * dot);
        for (int r = 0; r < rows; r++) dv[r * cols + c] = (float) (a * dw[r * cols + c] + b * v[r * cols + c]);
      }
      return dv;
    }
  }
}
