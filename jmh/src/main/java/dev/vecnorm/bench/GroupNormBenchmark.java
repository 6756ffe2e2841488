package dev.vecnorm.bench;

import dev.vecnorm.GroupNorm;
import dev.vecnorm.GroupShape;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
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
 * GroupNorm on the suite's 4-D shapes, NHWC and NCHW: forward with statistics, backward with parameter
 * gradients. Variants as for batch norm: {@link Vector} (library, Vector API), {@link Scalar} (library,
 * forced scalar), {@link Naive} (textbook Java, double sums) and {@link Bandwidth} (the streaming probe
 * of {@link BandwidthOps}: forward 2 reads + 1 write, backward 4 reads + 1 write, the bytes a two-pass
 * kernel must move). Microseconds per call. {@code groups} is 32 (Keras's default); a shape whose channel
 * count it does not divide (17) runs InstanceNorm ({@code groups = channels}) instead.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public abstract class GroupNormBenchmark {

  @Param({
      "NHWC:64x56x56x64", "NCHW:64x56x56x64",
      "NHWC:32x14x14x256", "NCHW:32x14x14x256",
      "NHWC:32x7x7x2048", "NCHW:32x7x7x2048",
      "NHWC:7x13x13x17", "NCHW:7x13x13x17"})
  public String shape;

  @Param({"32"})
  public int groups;

  protected GroupShape s;
  protected Workload w;
  protected float[] mean, invStd;

  @Setup(Level.Trial)
  public void setUp() {
    w = new Workload(shape); // the tensors, gamma, beta and gradients of the batch-norm suite for this label
    String[] d = shape.substring(shape.indexOf(':') + 1).split("x");
    int n = Integer.parseInt(d[0]), spatial = Integer.parseInt(d[1]) * Integer.parseInt(d[2]), c = Integer.parseInt(d[3]);
    int g = c % groups == 0 ? groups : c;
    s = shape.startsWith("NHWC") ? GroupShape.nhwc(n, spatial, c, g) : GroupShape.nchw(n, c, spatial, g);
    mean = new float[s.statistics()];
    invStd = new float[s.statistics()];
    if (Boolean.getBoolean(FIRST_OUT)) firstOut();
    doForward(); // statistics for the backward come from a real forward
  }

  /**
   * System property ({@code -jvmArgsAppend -Dvecnorm.bench.firstOut=true}, with the fork's
   * {@code --add-modules jdk.incubator.vector}): every group's first element 10 standard deviations out, so every
   * group of the channels-last memory-order forward takes its two-pass redo (the default data: ~0.5% of groups).
   * A property, not a {@code @Param}, so results of other runs keep their keys.
   */
  static final String FIRST_OUT = "vecnorm.bench.firstOut";

  /** Adds 20 (x is N(1, 2)) to the first element of every (sample, group), in the shape's layout. */
  private void firstOut() {
    int cpg = s.channels() / s.groups(), sample = s.channels() * s.spatial(), groupStep = s.channelsLast() ? cpg : cpg * s.spatial();
    for (int n = 0; n < s.batch(); n++) for (int g = 0; g < s.groups(); g++) w.x[n * sample + g * groupStep] += 20f;
  }

  @Benchmark
  public float[] forward() {
    return doForward();
  }

  @Benchmark
  public float[] backward() {
    return doBackward();
  }

  // JMH wants each @Benchmark method once in the hierarchy, so variants implement these instead.
  protected abstract float[] doForward();

  protected abstract float[] doBackward();

  /** The library's public facade (Vector API or scalar, as the fork's flags choose). */
  public abstract static class Library extends GroupNormBenchmark {
    @Override
    protected float[] doForward() {
      GroupNorm.forward(s, w.x, 0, w.gamma, w.beta, Workload.EPSILON, w.y, 0, mean, invStd);
      return w.y;
    }

    @Override
    protected float[] doBackward() {
      GroupNorm.backward(s, w.x, 0, w.dy, 0, w.gamma, mean, invStd, w.dx, 0, w.dGamma, w.dBeta);
      return w.dx;
    }
  }

  /** The library with the Vector API kernels. */
  @Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx1g"})
  public static class Vector extends Library {}

  /** The library forced onto its scalar implementation. */
  @Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx1g", "-Dvecnorm.forceScalar=true"})
  public static class Scalar extends Library {}

  /**
   * The library on plain native segments (off-heap, 64-byte aligned, copies of the same data): the
   * native bodies, unstaged where they apply. Its time over {@link Vector}'s is the segment cost.
   */
  @Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx1g"})
  public static class Native extends GroupNormBenchmark {
    private static final ValueLayout.OfFloat LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private MemorySegment x, y, dy, dx;

    private MemorySegment copy(float[] a) {
      MemorySegment m = Arena.global().allocate(a.length * 4L, 64);
      MemorySegment.copy(a, 0, m, LE, 0, a.length);
      return m;
    }

    /** Allocated at the trial's first call (the base class's setup runs the first forward). */
    private void segments() {
      x = copy(w.x);
      y = copy(w.y);
      dy = copy(w.dy);
      dx = copy(w.dx);
    }

    @Override
    protected float[] doForward() {
      if (x == null) segments();
      GroupNorm.forward(s, x, 0, w.gamma, w.beta, Workload.EPSILON, y, 0, mean, invStd);
      return invStd;
    }

    @Override
    protected float[] doBackward() {
      if (x == null) segments();
      GroupNorm.backward(s, x, 0, dy, 0, w.gamma, mean, invStd, dx, 0, w.dGamma, w.dBeta);
      return w.dGamma;
    }
  }

  /** The streaming probe: this machine's ceiling for the bytes each operation moves. */
  @Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx1g"})
  public static class Bandwidth extends GroupNormBenchmark {
    @Override
    protected float[] doForward() {
      BandwidthOps.copy(w.x, w.y, BandwidthOps.read(w.x));
      return w.y;
    }

    @Override
    protected float[] doBackward() {
      BandwidthOps.combine(w.x, w.dy, w.dx, BandwidthOps.read2(w.x, w.dy));
      return w.dx;
    }
  }

  /** Textbook Java, double sums, one (sample, group) at a time with the layout's strides: what a port without the library writes. */
  @Fork(value = 1, jvmArgsAppend = {"-Xmx1g"})
  public static class Naive extends GroupNormBenchmark {
    @Override
    protected float[] doForward() {
      int C = s.channels(), P = s.spatial(), G = s.groups(), cpg = C / G;
      int cs = s.channelsLast() ? 1 : P, ps = s.channelsLast() ? C : 1;
      double count = (double) cpg * P;
      for (int n = 0; n < s.batch(); n++) {
        for (int g = 0; g < G; g++) {
          double sum = 0, sq = 0;
          for (int c = g * cpg; c < (g + 1) * cpg; c++) for (int p = 0; p < P; p++) sum += w.x[n * C * P + c * cs + p * ps];
          double m = sum / count;
          for (int c = g * cpg; c < (g + 1) * cpg; c++) {
            for (int p = 0; p < P; p++) {
              double d = w.x[n * C * P + c * cs + p * ps] - m;
              sq += d * d;
            }
          }
          double inv = 1 / Math.sqrt(sq / count + Workload.EPSILON);
          mean[n * G + g] = (float) m;
          invStd[n * G + g] = (float) inv;
          for (int c = g * cpg; c < (g + 1) * cpg; c++) {
            for (int p = 0; p < P; p++) {
              int i = n * C * P + c * cs + p * ps;
              w.y[i] = (float) ((w.x[i] - m) * inv * w.gamma[c] + w.beta[c]);
            }
          }
        }
      }
      return w.y;
    }

    @Override
    protected float[] doBackward() {
      int C = s.channels(), P = s.spatial(), G = s.groups(), cpg = C / G;
      int cs = s.channelsLast() ? 1 : P, ps = s.channelsLast() ? C : 1;
      double count = (double) cpg * P;
      java.util.Arrays.fill(w.dGamma, 0f);
      java.util.Arrays.fill(w.dBeta, 0f);
      for (int n = 0; n < s.batch(); n++) {
        for (int g = 0; g < G; g++) {
          double m = mean[n * G + g], inv = invStd[n * G + g], sg = 0, sgx = 0;
          for (int c = g * cpg; c < (g + 1) * cpg; c++) {
            for (int p = 0; p < P; p++) {
              int i = n * C * P + c * cs + p * ps;
              double xh = (w.x[i] - m) * inv, gr = w.dy[i] * w.gamma[c];
              sg += gr;
              sgx += gr * xh;
              w.dGamma[c] += (float) (w.dy[i] * xh);
              w.dBeta[c] += w.dy[i];
            }
          }
          for (int c = g * cpg; c < (g + 1) * cpg; c++) {
            for (int p = 0; p < P; p++) {
              int i = n * C * P + c * cs + p * ps;
              double xh = (w.x[i] - m) * inv, gr = w.dy[i] * w.gamma[c];
              w.dx[i] = (float) (inv * (gr - sg / count - xh * sgx / count));
            }
          }
        }
      }
      return w.dx;
    }
  }
}
