package dev.vecnorm.dl4j;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.vecnorm.ParallelBatchNorm;
import java.util.ArrayList;
import java.util.List;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The helper on {@code ParallelBatchNorm}: identical bits for 1, 2 and 3 threads, values equal to a
 * double-precision reference, small tensors on the serial kernels, and one shared pool of daemon workers.
 */
class ParallelHelperTest {

  /** 8 x 24 x 40 x 40 = 307,200 floats: above the 131,072-float threshold, 3 uneven chunks in either layout. */
  static final int N = 8, C = 24, H = 40, W = 40;
  static final double EPS = 1e-3;

  /** Everything a training step and an inference call produce, as float arrays. */
  record Results(float[] y, float[] mean, float[] var, float[] dx, float[] dGamma, float[] dBeta, float[] inference) {}

  static long[] shape(CNN2DFormat f, int n, int c, int h, int w) {
    return f == CNN2DFormat.NCHW ? new long[] {n, c, h, w} : new long[] {n, h, w, c};
  }

  static INDArray data(long[] shape, long seed, double scale, double offset) {
    Nd4j.getRandom().setSeed(seed);
    return Nd4j.randn(DataType.FLOAT, shape).muli(scale).addi(offset);
  }

  static Results run(VecnormBatchNormHelper helper, CNN2DFormat f, long[] shape) {
    LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();
    int c = (int) (f == CNN2DFormat.NCHW ? shape[1] : shape[3]);
    long[] perChannel = {1, c};
    INDArray x = data(shape, 11, 2, 3);
    INDArray dy = data(shape, 12, 1, 0);
    INDArray gamma = data(new long[] {c}, 13, 0.5, 1);
    INDArray beta = data(new long[] {c}, 14, 1, 0);
    INDArray movingMean = data(new long[] {c}, 15, 1, 3);
    INDArray movingVar = Nd4j.zeros(DataType.FLOAT, c).addi(3.5);
    INDArray y = helper.preOutput(x, true, perChannel, gamma, beta, null, null, 0.9, EPS, f, mgr);
    assertNotNull(y, "the helper must run");
    INDArray dGamma = Nd4j.zeros(DataType.FLOAT, c), dBeta = Nd4j.zeros(DataType.FLOAT, c);
    Pair<Gradient, INDArray> g = helper.backpropGradient(x, dy, perChannel, gamma, beta, dGamma, dBeta, EPS, f, mgr);
    INDArray z = helper.preOutput(x, false, perChannel, gamma, beta, movingMean, movingVar, 0.9, EPS, f, mgr);
    return new Results(floats(y), floats(helper.getMeanCache(DataType.FLOAT)), floats(helper.getVarCache(DataType.FLOAT)),
        floats(g.getSecond()), floats(dGamma), floats(dBeta), floats(z));
  }

  static float[] floats(INDArray a) {
    return a.dup('c').data().asFloat();
  }

  static void assertSameBits(Results a, Results b, String what) {
    assertArrayEquals(a.y(), b.y(), what + " y"); // float[] equality is Float.floatToIntBits equality
    assertArrayEquals(a.mean(), b.mean(), what + " mean");
    assertArrayEquals(a.var(), b.var(), what + " variance");
    assertArrayEquals(a.dx(), b.dx(), what + " dx");
    assertArrayEquals(a.dGamma(), b.dGamma(), what + " dGamma");
    assertArrayEquals(a.dBeta(), b.dBeta(), what + " dBeta");
    assertArrayEquals(a.inference(), b.inference(), what + " inference y");
  }

  @ParameterizedTest
  @EnumSource(CNN2DFormat.class)
  void oneTwoAndThreeThreadsGiveTheSameBits(CNN2DFormat f) {
    long[] shape = shape(f, N, C, H, W);
    List<Results> results = new ArrayList<>();
    for (int threads = 1; threads <= 3; threads++) {
      try (ParallelBatchNorm pool = new ParallelBatchNorm(threads)) {
        results.add(run(new VecnormBatchNormHelper(new SegmentKernels.Parallel(pool)), f, shape));
      }
    }
    assertSameBits(results.get(0), results.get(1), f + " 2 threads against 1");
    assertSameBits(results.get(0), results.get(2), f + " 3 threads against 1");
    // The serial kernels sum in another order: if they gave these bits too, this test could not tell the paths apart.
    Results serial = run(new VecnormBatchNormHelper(SegmentKernels.SERIAL), f, shape);
    assertTrue(!java.util.Arrays.equals(serial.dx(), results.get(0).dx()) || !java.util.Arrays.equals(serial.y(), results.get(0).y()),
        f + ": the parallel path must have run");
    // The helper an install gives on this machine (ND4J's thread count) gives them too.
    assertSameBits(results.get(0), run(new VecnormBatchNormHelper(SegmentKernels.forThreads(2)), f, shape),
        f + " shared pool against 1 thread");
  }

  @ParameterizedTest
  @EnumSource(CNN2DFormat.class)
  void parallelResultsEqualADoubleReference(CNN2DFormat f) {
    long[] shape = shape(f, N, C, H, W);
    Results r;
    try (ParallelBatchNorm pool = new ParallelBatchNorm(2)) {
      r = run(new VecnormBatchNormHelper(new SegmentKernels.Parallel(pool)), f, shape);
    }
    // Double-precision reference from the same inputs, as [outer, C, inner].
    double[] x = toDoubles(data(shape, 11, 2, 3)), dy = toDoubles(data(shape, 12, 1, 0));
    double[] gamma = toDoubles(data(new long[] {C}, 13, 0.5, 1)), beta = toDoubles(data(new long[] {C}, 14, 1, 0));
    double[] mm = toDoubles(data(new long[] {C}, 15, 1, 3));
    int outer = f == CNN2DFormat.NCHW ? N : N * H * W, inner = f == CNN2DFormat.NCHW ? H * W : 1;
    double count = (double) outer * inner;
    double[] mean = new double[C], var = new double[C], sumDy = new double[C], sumDyXhat = new double[C];
    for (int o = 0; o < outer; o++) for (int c = 0; c < C; c++) for (int i = 0; i < inner; i++) mean[c] += x[(o * C + c) * inner + i];
    for (int c = 0; c < C; c++) mean[c] /= count;
    for (int o = 0; o < outer; o++) for (int c = 0; c < C; c++) for (int i = 0; i < inner; i++) {
      double d = x[(o * C + c) * inner + i] - mean[c];
      var[c] += d * d;
    }
    for (int c = 0; c < C; c++) var[c] /= count;
    for (int o = 0; o < outer; o++) for (int c = 0; c < C; c++) for (int i = 0; i < inner; i++) {
      int k = (o * C + c) * inner + i;
      double xhat = (x[k] - mean[c]) / Math.sqrt(var[c] + EPS);
      close(gamma[c] * xhat + beta[c], r.y()[k], "y");
      close(gamma[c] * (x[k] - mm[c]) / Math.sqrt(3.5 + EPS) + beta[c], r.inference()[k], "inference y");
      sumDy[c] += dy[k];
      sumDyXhat[c] += dy[k] * xhat;
    }
    for (int c = 0; c < C; c++) {
      close(mean[c], r.mean()[c], "mean");
      close(var[c], r.var()[c], "variance");
      close(sumDyXhat[c], r.dGamma()[c], "dGamma");
      close(sumDy[c], r.dBeta()[c], "dBeta");
    }
    for (int o = 0; o < outer; o++) for (int c = 0; c < C; c++) for (int i = 0; i < inner; i++) {
      int k = (o * C + c) * inner + i;
      double invStd = 1 / Math.sqrt(var[c] + EPS), xhat = (x[k] - mean[c]) * invStd;
      close(gamma[c] * invStd * (dy[k] - sumDy[c] / count - xhat * sumDyXhat[c] / count), r.dx()[k], "dx");
    }
  }

  /** |actual - expected| <= 1e-4 (1 + |expected|): float32 kernels against a double reference. */
  static void close(double expected, float actual, String what) {
    if (!(Math.abs(actual - expected) <= 1e-4 * (1 + Math.abs(expected)))) {
      throw new AssertionError(what + ": expected " + expected + " (double reference), got " + actual);
    }
  }

  static double[] toDoubles(INDArray a) {
    return a.castTo(DataType.DOUBLE).dup('c').data().asDouble();
  }

  @ParameterizedTest
  @EnumSource(CNN2DFormat.class)
  void smallTensorsRunTheSerialKernels(CNN2DFormat f) {
    // 4 x 16 x 32 x 32 = 65,536 floats, below the threshold: the same bits as the single-threaded kernels.
    long[] shape = shape(f, 4, 16, 32, 32);
    Results serial = run(new VecnormBatchNormHelper(SegmentKernels.SERIAL), f, shape);
    try (ParallelBatchNorm pool = new ParallelBatchNorm(2)) {
      assertSameBits(serial, run(new VecnormBatchNormHelper(new SegmentKernels.Parallel(pool)), f, shape), f + " small");
    }
  }

  @Test
  void threadCountAndSharedPool() {
    assertSame(SegmentKernels.SERIAL, SegmentKernels.forThreads(1));
    BatchNormalization conf = new BatchNormalization.Builder().nOut(3).build();
    assertEquals(1, new VecnormBatchNormHelper(conf, 1).threads());
    assertThrows(IllegalArgumentException.class, () -> new VecnormBatchNormHelper(conf, 0));
    MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().list()
        .layer(new BatchNormalization.Builder().nOut(3).build()).setInputType(InputType.feedForward(3)).build());
    net.init();
    assertThrows(IllegalArgumentException.class, () -> VecnormHelpers.install(net, 0));
    assertEquals(1, VecnormHelpers.install(net, 1));
    assertEquals(1, ((VecnormBatchNormHelper) net.getLayer(0).getHelper()).threads());
    int expected = Math.min(Nd4j.getEnvironment().maxThreads(), Runtime.getRuntime().availableProcessors());
    VecnormHelpers.install(net);
    assertEquals(expected, ((VecnormBatchNormHelper) net.getLayer(0).getHelper()).threads(), "ND4J's thread count, capped");

    assumeTrue(Runtime.getRuntime().availableProcessors() >= 2, "one processor: no pool");
    assertSame(SegmentKernels.Parallel.shared(2), SegmentKernels.Parallel.shared(2), "one pool per thread count per JVM");
    SegmentKernels.forThreads(2);
    boolean workers = false;
    for (Thread t : Thread.getAllStackTraces().keySet()) {
      if (t.getName().startsWith("vecnorm-worker")) {
        workers = true;
        assertTrue(t.isDaemon(), "pool workers must not keep the JVM alive: " + t);
      }
    }
    assertTrue(workers, "the shared pool owns worker threads");
  }
}
