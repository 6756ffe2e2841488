package dev.vecnorm.bench;

import dev.vecnorm.BatchNorm;
import dev.vecnorm.BlockedLayout;
import dev.vecnorm.BlockedShape;
import dev.vecnorm.NormShape;
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

/** The same N x C x HxW batch in NCHW, NHWC and the blocked nChw[lanes]c layout. */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-Xms4g", "-Xmx4g", "-XX:+AlwaysPreTouch"})
public class LayoutBenchmark {
  @Param({"64x64x3136", "32x256x196", "7x17x169"})
  public String nxcxs;

  @Param({"NCHW", "NHWC", "BLOCKED"})
  public String layout;

  NormShape shape;
  BlockedShape blocked;
  float[] x, y, dy, dx, gamma, beta, mean, variance, invStd, dGamma, dBeta;

  @Setup(Level.Trial)
  public void setUp() {
    String[] p = nxcxs.split("x");
    int n = Integer.parseInt(p[0]), c = Integer.parseInt(p[1]), s = Integer.parseInt(p[2]);
    shape = layout.equals("NHWC") ? NormShape.channelsLast(n * s, c) : NormShape.channelsFirst(n, c, s);
    blocked = BlockedShape.of(n, c, s);
    int size = layout.equals("BLOCKED") ? blocked.size() : n * c * s;
    SplittableRandom r = new SplittableRandom(1);
    x = new float[size];
    dy = new float[size];
    for (int i = 0; i < size; i++) {
      x[i] = (float) r.nextGaussian();
      dy[i] = (float) r.nextGaussian();
    }
    y = new float[size];
    dx = new float[size];
    gamma = new float[c];
    beta = new float[c];
    mean = new float[c];
    variance = new float[c];
    invStd = new float[c];
    dGamma = new float[c];
    dBeta = new float[c];
    java.util.Arrays.fill(gamma, 1f);
    trainingForward();
  }

  @Benchmark
  public Object trainingForward() {
    if (layout.equals("BLOCKED")) {
      BlockedLayout.forwardTraining(blocked, x, 0, gamma, beta, Workload.EPSILON, y, 0, mean, variance, invStd);
    } else {
      BatchNorm.forwardTraining(shape, x, 0, gamma, beta, Workload.EPSILON, y, 0, mean, variance, invStd);
    }
    return y;
  }

  @Benchmark
  public Object backward() {
    if (layout.equals("BLOCKED")) {
      BlockedLayout.backward(blocked, x, 0, dy, 0, gamma, mean, invStd, dx, 0, dGamma, dBeta);
    } else {
      BatchNorm.backward(shape, x, 0, dy, 0, gamma, mean, invStd, dx, 0, dGamma, dBeta);
    }
    return dx;
  }
}
