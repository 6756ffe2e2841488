package dev.vecnorm.bench;

import dev.vecnorm.LayerNorm;
import dev.vecnorm.RmsNorm;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
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
 * LayerNorm and RMSNorm at transformer shapes ({@code tokens x features}, written {@code NC:rows x features}
 * so that {@code jmh/bench report} reads them): forward with statistics, backward with parameter gradients.
 * Variants as for batch norm: {@link Vector} (library, Vector API), {@link Scalar} (library, forced
 * scalar), {@link Naive} (textbook Java, double sums) and {@link Bandwidth} (the streaming probe of
 * {@link BandwidthOps} moving the compulsory bytes: forward 1 read + 1 write, backward 2 reads + 1 write;
 * a row fits in L1/L2, so a kernel's second read of it is not memory traffic). Also awkward widths: 17
 * (one vector and a scalar tail), 1000 (a one-vector tail and 8 scalar floats at 16 lanes) and 4095
 * (255 vectors and 15 floats: the one-vector tail is compiled, see {@code -prof gc}), and 4096x256, the
 * shortest transformer rows (1 KiB), where a row's fixed costs weigh most. {@link Segment} runs the library on native {@code MemorySegment}s,
 * {@link SegmentOffset} on native ones at a byte offset from a 64-byte line.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public abstract class LayerNormBenchmark {

  @Param({"NC:2048x768", "NC:512x4096", "NC:64x17", "NC:1024x1000", "NC:512x4095", "NC:4096x256"})
  public String shape;

  protected int rows, features;
  protected float[] x, y, dy, dx, gamma, beta, mean, invStd, dGamma, dBeta;

  @Setup(Level.Trial)
  public void setUp() {
    String[] p = shape.substring(shape.indexOf(':') + 1).split("x");
    rows = Integer.parseInt(p[0]);
    features = Integer.parseInt(p[1]);
    SplittableRandom r = new SplittableRandom(42);
    x = random(r, rows * features, 0.5, 2);
    dy = random(r, rows * features, 0, 1);
    gamma = random(r, features, 1, 0.2);
    beta = random(r, features, 0, 0.2);
    y = new float[rows * features];
    dx = new float[rows * features];
    mean = new float[rows];
    invStd = new float[rows];
    dGamma = new float[features];
    dBeta = new float[features];
    prepare();
    lnForward(); // statistics for the backward come from a real forward
  }

  private static float[] random(SplittableRandom r, int n, double center, double scale) {
    float[] a = new float[n];
    for (int i = 0; i < n; i++) a[i] = (float) (center + scale * r.nextGaussian());
    return a;
  }

  @Benchmark
  public float[] layerNormForward() {
    return lnForward();
  }

  @Benchmark
  public float[] layerNormBackward() {
    return lnBackward();
  }

  @Benchmark
  public float[] rmsNormForward() {
    return rmsForward();
  }

  @Benchmark
  public float[] rmsNormBackward() {
    return rmsBackward();
  }

  /** Called in setUp after the arrays are filled, before the first forward: variants set up their own tensors. */
  protected void prepare() {}

  // JMH wants each @Benchmark method once in the hierarchy, so variants implement these instead.
  protected abstract float[] lnForward();

  protected abstract float[] lnBackward();

  protected abstract float[] rmsForward();

  protected abstract float[] rmsBackward();

  /** The library's public facade (Vector API or scalar, as the fork's flags choose). */
  public abstract static class Library extends LayerNormBenchmark {
    @Override
    protected float[] lnForward() {
      LayerNorm.forward(rows, features, x, 0, gamma, beta, 1e-5f, y, 0, mean, invStd);
      return y;
    }

    @Override
    protected float[] lnBackward() {
      LayerNorm.backward(rows, features, x, 0, dy, 0, gamma, mean, invStd, dx, 0, dGamma, dBeta);
      return dx;
    }

    @Override
    protected float[] rmsForward() {
      RmsNorm.forward(rows, features, x, 0, gamma, 1e-6f, y, 0, invStd);
      return y;
    }

    @Override
    protected float[] rmsBackward() {
      RmsNorm.backward(rows, features, x, 0, dy, 0, gamma, invStd, dx, 0, dGamma);
      return dx;
    }
  }

  /** The library with the Vector API kernels. */
  @Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx1g"})
  public static class Vector extends Library {}

  /**
   * The library's {@code MemorySegment} entry points on native segments (64-byte aligned, as native tensor
   * libraries allocate), same JVM flags as {@link Vector}: Segment / Vector is the cost of native memory.
   */
  @Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx1g"})
  public static class Segment extends LayerNormBenchmark {
    private MemorySegment xs, ys, dys, dxs;

    @Override
    protected void prepare() {
      xs = copy(x);
      ys = copy(y);
      dys = copy(dy);
      dxs = copy(dx);
    }

    /** Bytes from a 64-byte line to each tensor's first float: 0 here, {@link SegmentOffset}'s parameter there. */
    protected long offset() {
      return 0;
    }

    private MemorySegment copy(float[] a) {
      // Freed with the benchmark state. One line more than the tensor, so that any offset below 64 fits.
      MemorySegment s = Arena.ofAuto().allocate(4L * a.length + 64, 64).asSlice(offset(), 4L * a.length);
      MemorySegment.copy(a, 0, s, ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), 0, a.length);
      return s;
    }

    @Override
    protected float[] lnForward() {
      LayerNorm.forward(rows, features, xs, 0, gamma, beta, 1e-5f, ys, 0, mean, invStd);
      return invStd;
    }

    @Override
    protected float[] lnBackward() {
      LayerNorm.backward(rows, features, xs, 0, dys, 0, gamma, mean, invStd, dxs, 0, dGamma, dBeta);
      return dGamma;
    }

    @Override
    protected float[] rmsForward() {
      RmsNorm.forward(rows, features, xs, 0, gamma, 1e-6f, ys, 0, invStd);
      return invStd;
    }

    @Override
    protected float[] rmsBackward() {
      RmsNorm.backward(rows, features, xs, 0, dys, 0, gamma, invStd, dxs, 0, dGamma);
      return dGamma;
    }
  }

  /**
   * {@link Segment} with every tensor {@code offset} bytes past a 64-byte line (the same kernel call on a
   * slice of an aligned allocation): what misalignment costs the library's own native kernels. A large Java
   * {@code float[]}'s data starts 16 bytes past a line (the array header; G1 puts large arrays at a region
   * start), so {@code offset=16} is where the {@code float[]} kernels' loads and stores sit, and
   * {@code offset=0} where a native tensor library's allocations sit. At 16 lanes a 64-byte vector off a
   * line touches two lines. Rows of 1000 floats (4000 bytes) are off by 32 bytes every other row even at 0.
   */
  @Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx1g"})
  public static class SegmentOffset extends Segment {
    @Param({"0", "16", "32"})
    public int offset;

    @Override
    protected long offset() {
      return offset;
    }
  }

  /**
   * {@link Vector}'s forward on {@code float[]} tensors starting {@code lead} floats into the arrays (x and y
   * one line longer): the arrays' own placement cannot be chosen, a tensor's start within them can. A large
   * array's data starts 16 bytes past a 64-byte line here (inferred: the array header), so {@code lead=12}
   * would put every row of 256 or 768 floats on a line and {@code lead=0} is where callers' tensors sit;
   * {@link SegmentOffset} is the same question with known addresses.
   */
  @Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx1g"})
  public static class ArrayOffset extends Vector {
    @Param({"0", "4", "8", "12"})
    public int lead;

    private float[] xl, yl;

    @Override
    protected void prepare() {
      xl = new float[x.length + 16];
      yl = new float[y.length + 16];
      System.arraycopy(x, 0, xl, lead, x.length);
    }

    @Override
    protected float[] lnForward() {
      LayerNorm.forward(rows, features, xl, lead, gamma, beta, 1e-5f, yl, lead, mean, invStd);
      return yl;
    }
  }

  /** The library forced onto its scalar implementation. */
  @Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx1g", "-Dvecnorm.forceScalar=true"})
  public static class Scalar extends Library {}

  /** The streaming probe: the compulsory traffic with trivial arithmetic, this machine's ceiling per operation. */
  @Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xmx1g"})
  public static class Bandwidth extends LayerNormBenchmark {
    @Override
    protected float[] lnForward() {
      BandwidthOps.copy(x, y, 0.5f);
      return y;
    }

    @Override
    protected float[] lnBackward() {
      BandwidthOps.combine(x, dy, dx, 0.5f);
      return dx;
    }

    @Override
    protected float[] rmsForward() {
      return lnForward();
    }

    @Override
    protected float[] rmsBackward() {
      return lnBackward();
    }
  }

  /** Textbook Java, double sums: what a port without the library writes. */
  @Fork(value = 1, jvmArgsAppend = {"-Xmx1g"})
  public static class Naive extends LayerNormBenchmark {
    @Override
    protected float[] lnForward() {
      for (int r = 0; r < rows; r++) {
        int o = r * features;
        double s = 0, q = 0;
        for (int f = 0; f < features; f++) s += x[o + f];
        double m = s / features;
        for (int f = 0; f < features; f++) q += (x[o + f] - m) * (x[o + f] - m);
        double inv = 1 / Math.sqrt(q / features + 1e-5);
        mean[r] = (float) m;
        invStd[r] = (float) inv;
        for (int f = 0; f < features; f++) y[o + f] = (float) ((x[o + f] - m) * inv * gamma[f] + beta[f]);
      }
      return y;
    }

    @Override
    protected float[] rmsForward() {
      for (int r = 0; r < rows; r++) {
        int o = r * features;
        double q = 0;
        for (int f = 0; f < features; f++) q += (double) x[o + f] * x[o + f];
        double inv = 1 / Math.sqrt(q / features + 1e-6);
        invStd[r] = (float) inv;
        for (int f = 0; f < features; f++) y[o + f] = (float) (x[o + f] * inv * gamma[f]);
      }
      return y;
    }

    @Override
    protected float[] lnBackward() {
      java.util.Arrays.fill(dGamma, 0f);
      java.util.Arrays.fill(dBeta, 0f);
      for (int r = 0; r < rows; r++) {
        int o = r * features;
        double m = mean[r], s = invStd[r], sg = 0, sgx = 0;
        for (int f = 0; f < features; f++) {
          double xh = (x[o + f] - m) * s, g = dy[o + f] * gamma[f];
          sg += g;
          sgx += g * xh;
          dGamma[f] += (float) (dy[o + f] * xh);
          dBeta[f] += dy[o + f];
        }
        for (int f = 0; f < features; f++) {
          double xh = (x[o + f] - m) * s, g = dy[o + f] * gamma[f];
          dx[o + f] = (float) (s * (g - sg / features - xh * sgx / features));
        }
      }
      return dx;
    }

    @Override
    protected float[] rmsBackward() {
      java.util.Arrays.fill(dGamma, 0f);
      for (int r = 0; r < rows; r++) {
        int o = r * features;
        double s = invStd[r], sgx = 0;
        for (int f = 0; f < features; f++) {
          double g = dy[o + f] * gamma[f];
          sgx += g * x[o + f];
          dGamma[f] += (float) (dy[o + f] * x[o + f] * s);
        }
        for (int f = 0; f < features; f++) dx[o + f] = (float) (s * dy[o + f] * gamma[f] - x[o + f] * s * s * s * sgx / features);
      }
      return dx;
    }
  }
}
