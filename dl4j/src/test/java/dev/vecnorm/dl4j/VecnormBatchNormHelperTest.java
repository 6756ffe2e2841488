package dev.vecnorm.dl4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Test;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * The helper against DL4J's own batch norm, layer by layer: two copies of one single-layer network with the
 * same parameters, one with the helper installed. DL4J's built-in path computes in float32 with other
 * summation orders, so values agree to float tolerance, not bit for bit: |a - b| <= 1e-4 * (1 + |b|).
 */
class VecnormBatchNormHelperTest {

  static final double TOL = 1e-4;

  /** Layouts under test; the sizes are awkward on purpose (C = 5 or 13: not a lane multiple). */
  enum Case {
    NCHW(4, CNN2DFormat.NCHW, 5, false, false),
    NHWC(4, CNN2DFormat.NHWC, 5, false, false),
    RANK2(2, CNN2DFormat.NCHW, 13, false, false),
    NCHW_VIEW(4, CNN2DFormat.NCHW, 5, true, false),
    NHWC_VIEW(4, CNN2DFormat.NHWC, 5, true, false),
    RANK2_VIEW(2, CNN2DFormat.NCHW, 13, true, false),
    NCHW_LOCKED(4, CNN2DFormat.NCHW, 5, false, true),
    RANK2_LOCKED(2, CNN2DFormat.NCHW, 13, false, true);

    final int rank;
    final CNN2DFormat format;
    final int channels;
    final boolean view;
    final boolean locked;

    Case(int rank, CNN2DFormat format, int channels, boolean view, boolean locked) {
      this.rank = rank;
      this.format = format;
      this.channels = channels;
      this.view = view;
      this.locked = locked;
    }

    long[] shape(int n) {
      if (rank == 2) return new long[] {n, channels};
      return format == CNN2DFormat.NCHW ? new long[] {n, channels, 3, 7} : new long[] {n, 3, 7, channels};
    }
  }

  static MultiLayerNetwork single(Case c, DataType dataType) {
    BatchNormalization.Builder bn = new BatchNormalization.Builder().nOut(c.channels).eps(1e-3).decay(0.8);
    if (c.locked) bn.lockGammaBeta(true).gamma(1.5).beta(-0.25); // both non-default: DL4J applies both then
    MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(7).dataType(dataType).list()
        .layer(bn.build())
        .setInputType(c.rank == 2 ? InputType.feedForward(c.channels) : InputType.convolutional(3, 7, c.channels, c.format))
        .build();
    MultiLayerNetwork net = new MultiLayerNetwork(conf);
    net.init();
    net.initGradientsView(); // layer-level backprop writes into these views
    // Non-trivial gamma, beta and running statistics, the same in both copies.
    INDArray p = Nd4j.rand(dataType, net.params().shape()).subi(0.5);
    net.setParams(p);
    return net;
  }

  /** Input with a channel-dependent offset and scale, so mean and variance matter; a row-range view when asked. */
  static INDArray input(Case c, int n, long seed) {
    Nd4j.getRandom().setSeed(seed);
    long[] shape = c.shape(n);
    if (!c.view) return Nd4j.randn(DataType.FLOAT, shape).muli(2).addi(3);
    long[] big = shape.clone();
    big[0] = n + 3;
    INDArray parent = Nd4j.randn(DataType.FLOAT, big).muli(2).addi(3);
    INDArray v = parent.get(NDArrayIndex.interval(2, 2 + n));
    assertTrue(v.isView() && v.offset() > 0, "the test must exercise a view with an offset");
    return v;
  }

  static void assertClose(INDArray expected, INDArray actual, String what) {
    assertClose(expected, actual, TOL, what);
  }

  /** Element-wise {@code |actual - expected| <= tol * (1 + |expected|)}, with the same shape. */
  static void assertClose(INDArray expected, INDArray actual, double tol, String what) {
    assertNotNull(actual, what);
    assertEquals(java.util.Arrays.toString(expected.shape()), java.util.Arrays.toString(actual.shape()), what + " shape");
    double[] e = expected.castTo(DataType.DOUBLE).dup('c').data().asDouble();
    double[] a = actual.castTo(DataType.DOUBLE).dup('c').data().asDouble();
    for (int i = 0; i < e.length; i++) {
      if (!(Math.abs(e[i] - a[i]) <= tol * (1 + Math.abs(e[i])))) {
        throw new AssertionError(what + "[" + i + "]: expected " + e[i] + " (DL4J built-in), got " + a[i]);
      }
    }
  }

  @ParameterizedTest
  @EnumSource(Case.class)
  void trainingForwardBackwardAndInferenceEqualDl4j(Case c) {
    MultiLayerNetwork ref = single(c, DataType.FLOAT);
    MultiLayerNetwork vec = single(c, DataType.FLOAT);
    vec.setParams(ref.params().dup());
    assertEquals(1, VecnormHelpers.install(vec));
    Layer refLayer = ref.getLayer(0);
    Layer vecLayer = vec.getLayer(0);
    assertTrue(VecnormHelpers.isInstalled(vecLayer));
    assertFalse(VecnormHelpers.isInstalled(refLayer), "DL4J's CPU default must be the built-in path");
    VecnormBatchNormHelper helper = (VecnormBatchNormHelper) vecLayer.getHelper();
    LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();
    int n = 4;
    INDArray x = input(c, n, 1);
    INDArray eps = input(c, n, 2);

    refLayer.setInput(x, mgr);
    vecLayer.setInput(x, mgr);
    INDArray yRef = refLayer.activate(true, mgr);
    INDArray yVec = vecLayer.activate(true, mgr);
    assertNotNull(helper.getMeanCache(DataType.FLOAT), "the helper must have run the training forward");
    assertClose(yRef, yVec, c + " training y");

    Pair<Gradient, INDArray> gRef = refLayer.backpropGradient(eps, mgr);
    Pair<Gradient, INDArray> gVec = vecLayer.backpropGradient(eps, mgr);
    assertClose(gRef.getSecond(), gVec.getSecond(), c + " dx");
    Map<String, INDArray> expected = gRef.getFirst().gradientForVariable();
    Map<String, INDArray> actual = gVec.getFirst().gradientForVariable();
    assertEquals(expected.keySet(), actual.keySet(), c + " gradient names");
    // gamma, beta, and the running-statistics updates DL4J derives from getMeanCache/getVarCache.
    for (String name : expected.keySet()) assertClose(expected.get(name), actual.get(name), c + " gradient " + name);

    INDArray zRef = refLayer.activate(false, mgr);
    INDArray zVec = vecLayer.activate(false, mgr);
    assertClose(zRef, zVec, c + " inference y");
  }

  @Test
  void batchStatisticsAreMeanAndBiasedVariance() {
    Case c = Case.NHWC;
    MultiLayerNetwork vec = single(c, DataType.FLOAT);
    VecnormHelpers.install(vec);
    INDArray x = input(c, 2, 3);
    Layer layer = vec.getLayer(0);
    layer.setInput(x, LayerWorkspaceMgr.noWorkspaces());
    layer.activate(true, LayerWorkspaceMgr.noWorkspaces());
    VecnormBatchNormHelper helper = (VecnormBatchNormHelper) layer.getHelper();
    // Double-precision reference over N, H, W.
    INDArray xd = x.castTo(DataType.DOUBLE);
    assertClose(xd.mean(0, 1, 2), helper.getMeanCache(DataType.DOUBLE), "batch mean");
    assertClose(xd.var(false, 0, 1, 2), helper.getVarCache(DataType.DOUBLE), "biased batch variance");
  }

  @Test
  void backwardWithoutItsForwardRecomputesTheBatchStatistics() {
    // DL4J may call backward on a helper whose forward did not run (e.g. installed between the two):
    // the helper must then take the statistics from the input, not from stale or empty buffers.
    Case c = Case.NHWC;
    LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();
    long[] shape = {1, c.channels};
    INDArray gamma = Nd4j.rand(DataType.FLOAT, c.channels).addi(0.5);
    INDArray beta = Nd4j.rand(DataType.FLOAT, c.channels);
    INDArray x = input(c, 3, 7);
    INDArray dy = input(c, 3, 8);
    VecnormBatchNormHelper withForward = new VecnormBatchNormHelper();
    assertNotNull(withForward.preOutput(x, true, shape, gamma, beta, null, null, 0.9, 1e-3, c.format, mgr));
    INDArray dg1 = Nd4j.zeros(DataType.FLOAT, c.channels), db1 = Nd4j.zeros(DataType.FLOAT, c.channels);
    INDArray dx1 = withForward.backpropGradient(x, dy, shape, gamma, beta, dg1, db1, 1e-3, c.format, mgr).getSecond();

    VecnormBatchNormHelper fresh = new VecnormBatchNormHelper();
    INDArray dg2 = Nd4j.zeros(DataType.FLOAT, c.channels), db2 = Nd4j.zeros(DataType.FLOAT, c.channels);
    INDArray dx2 = fresh.backpropGradient(x, dy, shape, gamma, beta, dg2, db2, 1e-3, c.format, mgr).getSecond();
    assertClose(dx1, dx2, "dx");
    assertClose(dg1, dg2, "dGamma");
    assertClose(db1, db2, "dBeta");
    assertClose(withForward.getMeanCache(DataType.FLOAT), fresh.getMeanCache(DataType.FLOAT), "batch mean");
    assertClose(withForward.getVarCache(DataType.FLOAT), fresh.getVarCache(DataType.FLOAT), "batch variance");
    assertFalse(dg1.equalsWithEps(Nd4j.zeros(DataType.FLOAT, c.channels), 1e-6), "dGamma must be written into the view");
  }

  @Test
  void doubleAndFOrderFallBack() {
    Case c = Case.NCHW;
    VecnormBatchNormHelper helper = new VecnormBatchNormHelper();
    LayerWorkspaceMgr mgr = LayerWorkspaceMgr.noWorkspaces();
    long[] shape = {1, c.channels};
    INDArray gamma = Nd4j.ones(DataType.FLOAT, c.channels);
    INDArray beta = Nd4j.zeros(DataType.FLOAT, c.channels);
    INDArray x = input(c, 3, 4);
    assertNull(helper.preOutput(x.castTo(DataType.DOUBLE), true, shape, gamma, beta, null, null, 0.9, 1e-5, c.format, mgr));
    assertNull(helper.preOutput(x.dup('f'), true, shape, gamma, beta, null, null, 0.9, 1e-5, c.format, mgr));
    INDArray columns = Nd4j.rand(DataType.FLOAT, 3, c.channels, 3, 8).get(NDArrayIndex.all(), NDArrayIndex.all(),
        NDArrayIndex.all(), NDArrayIndex.interval(0, 7));
    assertNull(helper.preOutput(columns, true, shape, gamma, beta, null, null, 0.9, 1e-5, c.format, mgr), "strided view");
    assertNull(helper.getMeanCache(DataType.FLOAT), "nothing ran");
    assertNotNull(helper.preOutput(x, true, shape, gamma, beta, null, null, 0.9, 1e-5, c.format, mgr));
  }

  @ParameterizedTest
  @EnumSource(value = Case.class, names = {"NCHW", "RANK2"})
  void fallbackGivesDl4jResults(Case c) {
    // A double network and an f-order input: the helper is installed but returns null, DL4J computes.
    MultiLayerNetwork ref = single(c, DataType.DOUBLE);
    MultiLayerNetwork vec = single(c, DataType.DOUBLE);
    vec.setParams(ref.params().dup());
    VecnormHelpers.install(vec);
    INDArray x = input(c, 3, 5).castTo(DataType.DOUBLE).dup('f');
    INDArray yRef = ref.output(x, true);
    INDArray yVec = vec.output(x, true);
    assertClose(yRef, yVec, c + " double fallback");
    assertNull(((VecnormBatchNormHelper) vec.getLayer(0).getHelper()).getMeanCache(DataType.DOUBLE));

    MultiLayerNetwork refF = single(c, DataType.FLOAT);
    MultiLayerNetwork vecF = single(c, DataType.FLOAT);
    vecF.setParams(refF.params().dup());
    VecnormHelpers.install(vecF);
    INDArray xf = input(c, 3, 6).dup('f');
    Layer l = vecF.getLayer(0);
    l.setInput(xf, LayerWorkspaceMgr.noWorkspaces());
    Layer lr = refF.getLayer(0);
    lr.setInput(xf, LayerWorkspaceMgr.noWorkspaces());
    assertClose(lr.activate(true, LayerWorkspaceMgr.noWorkspaces()), l.activate(true, LayerWorkspaceMgr.noWorkspaces()),
        c + " f-order fallback");
    assertNull(((VecnormBatchNormHelper) l.getHelper()).getMeanCache(DataType.FLOAT), "f-order must not reach vecnorm");
    assertTrue(VecnormHelpers.isInstalled(l), "a fallback must not disable the helper");
  }

  @Test
  void installNeedsInit() {
    MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().list()
        .layer(new BatchNormalization.Builder().nOut(3).build()).setInputType(InputType.feedForward(3)).build());
    assertThrows(IllegalStateException.class, () -> VecnormHelpers.install(net));
  }
}
