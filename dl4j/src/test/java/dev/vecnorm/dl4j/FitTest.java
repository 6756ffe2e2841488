package dev.vecnorm.dl4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static dev.vecnorm.dl4j.VecnormBatchNormHelperTest.assertClose;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * A few {@code fit} steps of a small CNN (NCHW and NHWC) and an MLP, with and without the helper, from the same
 * initial parameters on the same batches: parameters (including the running statistics) and scores must
 * agree to float tolerance after every step, and inference output at the end.
 */
class FitTest {

  static final int STEPS = 4;

  static MultiLayerConfiguration cnn(CNN2DFormat format) {
    return new NeuralNetConfiguration.Builder().seed(11).dataType(DataType.FLOAT).updater(new Sgd(0.1)).list()
        .layer(new ConvolutionLayer.Builder(3, 3).nOut(6).dataFormat(format).activation(Activation.IDENTITY).build())
        .layer(new BatchNormalization.Builder().decay(0.9).build())
        .layer(new ConvolutionLayer.Builder(3, 3).nOut(5).dataFormat(format).activation(Activation.RELU).build())
        .layer(new BatchNormalization.Builder().build())
        .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(3).activation(Activation.SOFTMAX).build())
        .setInputType(InputType.convolutional(9, 8, 2, format))
        .build();
  }

  static MultiLayerConfiguration mlp() {
    return new NeuralNetConfiguration.Builder().seed(12).dataType(DataType.FLOAT).updater(new Sgd(0.1)).list()
        .layer(new DenseLayer.Builder().nOut(17).activation(Activation.IDENTITY).build())
        .layer(new BatchNormalization.Builder().build())
        .layer(new DenseLayer.Builder().nOut(9).activation(Activation.TANH).build())
        .layer(new BatchNormalization.Builder().lockGammaBeta(true).build())
        .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(2).activation(Activation.IDENTITY).build())
        .setInputType(InputType.feedForward(7))
        .build();
  }

  enum Net { CNN_NCHW, CNN_NHWC, MLP }

  static MultiLayerConfiguration conf(Net n) {
    return switch (n) {
      case CNN_NCHW -> cnn(CNN2DFormat.NCHW);
      case CNN_NHWC -> cnn(CNN2DFormat.NHWC);
      case MLP -> mlp();
    };
  }

  static DataSet batch(Net n, int step) {
    Nd4j.getRandom().setSeed(100 + step);
    INDArray features = switch (n) {
      case CNN_NCHW -> Nd4j.randn(DataType.FLOAT, 6, 2, 9, 8).muli(1.5).addi(0.5);
      case CNN_NHWC -> Nd4j.randn(DataType.FLOAT, 6, 9, 8, 2).muli(1.5).addi(0.5);
      case MLP -> Nd4j.randn(DataType.FLOAT, 10, 7).muli(1.5).addi(0.5);
    };
    INDArray labels;
    if (n == Net.MLP) {
      labels = Nd4j.randn(DataType.FLOAT, 10, 2);
    } else {
      labels = Nd4j.zeros(DataType.FLOAT, 6, 3);
      for (int i = 0; i < 6; i++) labels.putScalar(i, (i + step) % 3, 1f);
    }
    return new DataSet(features, labels);
  }

  @ParameterizedTest
  @EnumSource(Net.class)
  void fitStepsAgreeWithAndWithoutHelper(Net n) {
    MultiLayerNetwork ref = new MultiLayerNetwork(conf(n));
    ref.init();
    MultiLayerNetwork vec = new MultiLayerNetwork(conf(n));
    vec.init();
    vec.setParams(ref.params().dup());
    assertEquals(2, VecnormHelpers.install(vec));
    INDArray before = ref.params().dup();
    for (int step = 0; step < STEPS; step++) {
      DataSet ds = batch(n, step);
      ref.fit(ds);
      vec.fit(ds);
      // Plain SGD on purpose: the bias of a layer feeding batch norm has a gradient of exactly 0 in exact
      // arithmetic, so both paths give float noise there, and Adam would turn that noise into +-lr steps.
      assertClose(ref.params(), vec.params(), 1e-3, n + " params after step " + step);
      assertEquals(ref.score(), vec.score(), 1e-3 * (1 + Math.abs(ref.score())), n + " score after step " + step);
    }
    assertFalse(before.equalsWithEps(ref.params(), 1e-3), "training must have moved the parameters");
    for (Layer l : vec.getLayers()) {
      if (l instanceof org.deeplearning4j.nn.layers.normalization.BatchNormalization) {
        assertTrue(VecnormHelpers.isInstalled(l), "the helper must survive fit (no throw, no fallback counter)");
      }
    }
    INDArray x = batch(n, 99).getFeatures();
    assertClose(ref.output(x, false), vec.output(x, false), 1e-3, n + " inference output");
  }

  @Test
  void computationGraphAndReinstallAfterClone() {
    ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder().seed(5).dataType(DataType.FLOAT)
        .updater(new Sgd(0.1)).graphBuilder()
        .addInputs("in")
        .addLayer("dense", new DenseLayer.Builder().nOut(8).activation(Activation.IDENTITY).build(), "in")
        .addLayer("bn", new BatchNormalization.Builder().build(), "dense")
        .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nOut(2).activation(Activation.IDENTITY).build(), "bn")
        .setOutputs("out")
        .setInputTypes(InputType.feedForward(7))
        .build();
    ComputationGraph ref = new ComputationGraph(conf);
    ref.init();
    ComputationGraph vec = ref.clone();
    assertEquals(1, VecnormHelpers.install(vec));
    assertTrue(VecnormHelpers.isInstalled(vec.getLayer("bn")));
    ComputationGraph copy = vec.clone();
    assertFalse(VecnormHelpers.isInstalled(copy.getLayer("bn")), "clone() builds new layers: install again");
    for (int step = 0; step < STEPS; step++) {
      DataSet ds = batch(Net.MLP, step);
      ref.fit(ds);
      vec.fit(ds);
      assertClose(ref.params(), vec.params(), 1e-3, "graph params after step " + step);
    }
  }
}
