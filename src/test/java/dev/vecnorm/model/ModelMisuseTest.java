package dev.vecnorm.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vecnorm.layers.BatchNormalization;
import dev.vecnorm.layers.Dense;
import dev.vecnorm.layers.Initializer;
import dev.vecnorm.layers.Tensor;
import java.util.List;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * Issue 10 item 7: misuse of fit / trainOnBatch / evaluate / predict throws a clear
 * IllegalArgumentException before any weight or moving statistic changes.
 */
class ModelMisuseTest {

  private static Sequential compiled() {
    Sequential m = SequentialTest.model();
    m.compile(Optimizer.sgd(0.1), Loss.sparseCategoricalCrossentropy(true), List.of("accuracy"));
    return m;
  }

  private static Tensor labels(float... y) {
    return new Tensor(new int[] {y.length}, y);
  }

  /** Every weight, trainable or not (BN moving statistics included), copied. */
  private static List<List<float[]>> snapshot(Sequential m) {
    return m.getWeights();
  }

  private static void assertSame(List<List<float[]>> before, Sequential m) {
    List<List<float[]>> after = m.getWeights();
    assertEquals(before.size(), after.size());
    for (int i = 0; i < before.size(); i++) {
      for (int j = 0; j < before.get(i).size(); j++) assertArrayEquals(before.get(i).get(j), after.get(i).get(j), "layer " + i + " weight " + j);
    }
  }

  /** The call throws IllegalArgumentException whose message contains every fragment, and changes no weight. */
  private static IllegalArgumentException rejects(Sequential m, Executable call, String... fragments) {
    List<List<float[]>> before = snapshot(m);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
    for (String f : fragments) assertTrue(e.getMessage().contains(f), "'" + f + "' missing from: " + e.getMessage());
    assertSame(before, m);
    return e;
  }

  @Test
  void fitOnAnUnbuiltModelChecksLabels() {
    Tensor[] data = SequentialTest.blobs(10, 1);
    Sequential m = compiled();
    float[] y = data[1].data().clone();
    y[9] = 3; // 3 classes: index 3 would read the next row's logits
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> m.fit(data[0], labels(y), FitOptions.defaults().verbose(0)));
    assertTrue(e.getMessage().contains("y[9] = 3.0") && e.getMessage().contains("[0, 3)"), e.getMessage());
    assertNull(m.inputShape(), "nothing was built");
    y[9] = Float.NaN;
    rejects(m, () -> m.fit(data[0], labels(y), FitOptions.defaults().verbose(0)), "y[9] = NaN");
    y[9] = 0.5f;
    rejects(m, () -> m.fit(data[0], labels(y), FitOptions.defaults().verbose(0)), "y[9] = 0.5");
  }

  @Test
  void trainOnBatchChecksLabelsAndShapes() {
    Tensor[] data = SequentialTest.blobs(10, 1);
    Sequential m = compiled();
    m.build(10, 2);
    float[] y = data[1].data().clone();
    y[0] = -1;
    rejects(m, () -> m.trainOnBatch(data[0], labels(y), null), "y[0] = -1.0", "[0, 3)");
    rejects(m, () -> m.trainOnBatch(data[0], labels(new float[9]), null), "10 samples", "9");
    rejects(m, () -> m.trainOnBatch(new Tensor(new int[] {10, 3}, new float[30]), data[1], null), "[10, 3]", "d1");
    rejects(m, () -> m.trainOnBatch(data[0], data[1], new float[0][]), "predictionsOut");
    // Still trains on good input.
    assertTrue(Double.isFinite(m.trainOnBatch(data[0], data[1], null)));
  }

  @Test
  void oneHotTargetsAreRejectedBySparseCrossEntropy() {
    Tensor[] data = SequentialTest.blobs(6, 1);
    float[] oneHot = new float[18];
    for (int i = 0; i < 6; i++) oneHot[i * 3 + (int) data[1].data()[i]] = 1;
    Sequential m = compiled();
    m.build(6, 2);
    Tensor y = new Tensor(new int[] {6, 3}, oneHot);
    rejects(m, () -> m.fit(data[0], y, FitOptions.defaults().verbose(0)), "one-hot", "[6, 3]");
    rejects(m, () -> m.trainOnBatch(data[0], y, null), "one-hot");
    assertThrows(IllegalArgumentException.class, () -> m.evaluate(data[0], y, 4));
    // [n, 1] class indices are fine, as in Keras.
    assertTrue(Double.isFinite(m.trainOnBatch(data[0], new Tensor(new int[] {6, 1}, data[1].data()), null)));
  }

  @Test
  void meanSquaredErrorTargetsMustMatchTheOutputsAndBeFinite() {
    Sequential m = SequentialTest.model();
    m.compile(Optimizer.sgd(0.1), Loss.meanSquaredError(), List.of());
    Tensor x = new Tensor(new int[] {4, 2}, new float[8]);
    m.build(4, 2);
    rejects(m, () -> m.fit(x, new Tensor(new int[] {4}, new float[4]), FitOptions.defaults().verbose(0)), "mean_squared_error", "[4, 3]");
    float[] t = new float[12];
    t[5] = Float.POSITIVE_INFINITY;
    rejects(m, () -> m.trainOnBatch(x, new Tensor(new int[] {4, 3}, t), null), "y[5] = Infinity");
    assertThrows(IllegalArgumentException.class, () -> m.compile(Optimizer.sgd(0.1), Loss.meanSquaredError(), List.of("accuracy")));
  }

  @Test
  void predictOnZeroRowsIsEmpty() {
    Tensor empty = new Tensor(new int[] {0, 2}, new float[0]);
    Sequential unbuilt = SequentialTest.model();
    Tensor out = unbuilt.predict(empty, 32);
    assertArrayEquals(new int[] {0, 3}, out.shape());
    assertEquals(0, out.size());
    Sequential built = SequentialTest.model();
    built.build(5, 2);
    assertArrayEquals(new int[] {0, 3}, built.predict(empty, 8).shape());
    assertThrows(IllegalArgumentException.class, () -> built.predict(new Tensor(new int[] {0, 5}, new float[0]), 8));
    Sequential zeroBatch = SequentialTest.model();
    zeroBatch.build(0, 2); // Keras's batch None: builds, and every layer is built
    assertTrue(zeroBatch.layers().stream().allMatch(dev.vecnorm.layers.Layer::isBuilt));
  }

  @Test
  void inputsOfAnotherRankOrWidthAreRejectedBeforeAnyLayerRuns() {
    Tensor[] data = SequentialTest.blobs(8, 1);
    Sequential m = compiled();
    m.fit(data[0], data[1], FitOptions.defaults().epochs(1).verbose(0));
    Tensor wide = new Tensor(new int[] {8, 3}, new float[24]);
    rejects(m, () -> m.predict(wide, 4), "[8, 3]");
    rejects(m, () -> m.forward(wide, true), "[8, 3]");
    rejects(m, () -> m.evaluate(wide, data[1], 4), "[8, 3]");
    rejects(m, () -> m.fit(new Tensor(new int[] {8, 2, 1}, data[0].data()), data[1], FitOptions.defaults().verbose(0)), "[8, 2, 1]");
  }

  @Test
  void batchNormBuiltForRankTwoRejectsRankThree() {
    BatchNormalization bn = BatchNormalization.create();
    bn.call(new Tensor(new int[] {4, 3}, new float[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}), true);
    float[] mean = bn.movingMean().clone(), var = bn.movingVariance().clone();
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> bn.call(new Tensor(new int[] {2, 2, 3}, new float[12]), true));
    assertTrue(e.getMessage().contains("expected ndim=2, found ndim=3"), e.getMessage());
    assertArrayEquals(mean, bn.movingMean());
    assertArrayEquals(var, bn.movingVariance());
    assertThrows(IllegalArgumentException.class, () -> bn.call(new Tensor(new int[] {12}, new float[12]), false));
    // The same channel count on axis -1 at the built rank is fine, any batch size.
    assertEquals(6, bn.call(new Tensor(new int[] {2, 3}, new float[6]), false).size());
  }

  @Test
  void fitArgumentsAreCheckedBeforeTraining() {
    Tensor[] data = SequentialTest.blobs(12, 1);
    Sequential m = compiled();
    m.build(12, 2);
    for (Supplier<FitOptions> bad : List.<Supplier<FitOptions>>of(() -> FitOptions.defaults().batchSize(0),
        () -> FitOptions.defaults().batchSize(-3), () -> FitOptions.defaults().epochs(0), () -> FitOptions.defaults().epochs(-1),
        () -> FitOptions.defaults().validationSplit(1), () -> FitOptions.defaults().validationSplit(-0.1),
        () -> FitOptions.defaults().validationSplit(Double.NaN), () -> FitOptions.defaults().verbose(3))) {
      assertThrows(IllegalArgumentException.class, bad::get);
    }
    assertThrows(NullPointerException.class, () -> FitOptions.defaults().validationData(null, data[1]));
    rejects(m, () -> m.fit(data[0], data[1], FitOptions.defaults().validationSplit(0.01).verbose(0)), "validationSplit");
    rejects(m, () -> m.evaluate(data[0], data[1], 0), "batchSize");
    rejects(m, () -> m.predict(data[0], -1), "batchSize");
    // Validation data that does not fit x: rejected before the first epoch, not after it.
    Tensor valX = new Tensor(new int[] {3, 3}, new float[9]);
    rejects(m, () -> m.fit(data[0], data[1], FitOptions.defaults().validationData(valX, labels(0, 1, 2)).verbose(0)),
        "validationData x", "[3, 3]");
    rejects(m, () -> m.fit(data[0], data[1], FitOptions.defaults().validationData(data[0], labels(0, 1)).verbose(0)),
        "validationData y");
    rejects(m, () -> m.fit(data[0], data[1], FitOptions.defaults().validationData(data[0], labels(new float[12])).verbose(0)
        .callback(Callback.earlyStopping("val_acuracy", 0, 1, false))), "val_acuracy");
    rejects(m, () -> m.fit(data[0], data[1], FitOptions.defaults().verbose(0).callback(Callback.earlyStopping("val_loss", 0, 1, false))),
        "val_loss", "no validationSplit");
  }

  @Test
  void setWeightsIsAllOrNothing() {
    Sequential m = compiled();
    m.build(4, 2);
    List<List<float[]>> before = snapshot(m);
    List<List<float[]>> bad = m.getWeights();
    for (List<float[]> layer : bad) for (float[] w : layer) java.util.Arrays.fill(w, 7f);
    bad.set(3, List.of(new float[16 * 3], new float[2])); // last Dense: bias of 2, needs 3
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> m.setWeights(bad));
    assertTrue(e.getMessage().contains("bias") && e.getMessage().contains("3"), e.getMessage());
    assertSame(before, m);
    Dense unbuilt = new Dense(3, true, Initializer.zeros(), Initializer.zeros(), null, "late");
    e = assertThrows(IllegalArgumentException.class, () -> unbuilt.setWeights(List.of(new float[6], new float[3])));
    assertTrue(e.getMessage().contains("not built"), e.getMessage());
  }

  /** A BN with a fused ReLU folds into a Dense with ReLU; a Dense with a non-linear activation does not fold. */
  @Test
  void foldingKeepsActivations() {
    Tensor[] data = SequentialTest.blobs(60, 3);
    Sequential m = new Sequential(Dense.builder(8).useBias(false).kernelInitializer(Initializer.glorotUniform(1)).name("a").build(),
        BatchNormalization.builder().activation("relu").name("bn_relu").build(),
        Dense.builder(8).activation("tanh").kernelInitializer(Initializer.glorotUniform(2)).name("b").build(),
        BatchNormalization.builder().name("bn2").build(),
        Dense.builder(3).kernelInitializer(Initializer.glorotUniform(3)).name("c").build());
    m.compile(Optimizer.sgd(0.1), Loss.sparseCategoricalCrossentropy(true), List.of());
    m.fit(data[0], data[1], FitOptions.defaults().epochs(2).verbose(0));
    Sequential folded = m.foldBatchNormForInference();
    assertEquals(4, folded.layers().size(), "only the linear Dense folded");
    float[] expected = m.predict(data[0], 16).data(), actual = folded.predict(data[0], 16).data();
    for (int i = 0; i < expected.length; i++) assertEquals(expected[i], actual[i], 1e-4 * (1 + Math.abs(expected[i])), "logit " + i);
  }

  @Test
  void lossesCheckTheirArgumentsBeforeWritingTheGradient() {
    Tensor logits = new Tensor(new int[] {2, 3}, new float[] {1, 2, 3, 4, 5, 6});
    float[] grad = {9, 9, 9, 9, 9, 9};
    Loss sparse = Loss.sparseCategoricalCrossentropy(true);
    assertThrows(IllegalArgumentException.class, () -> sparse.compute(logits, labels(0, 3), grad));
    assertThrows(IllegalArgumentException.class, () -> sparse.compute(logits, labels(0), grad));
    assertThrows(IllegalArgumentException.class, () -> sparse.compute(logits, labels(0, 1), new float[5]));
    assertThrows(IllegalArgumentException.class, () -> Loss.meanSquaredError().compute(logits, labels(0, 1), grad));
    assertArrayEquals(new float[] {9, 9, 9, 9, 9, 9}, grad);
  }

  @Test
  void backwardChecksTheGradientShape() {
    for (dev.vecnorm.layers.Layer l : List.of(new Dense(3), BatchNormalization.create(), dev.vecnorm.layers.Activation.tanh(),
        new dev.vecnorm.layers.Dropout(0.5, 1), new dev.vecnorm.layers.Flatten())) {
      assertThrows(IllegalStateException.class, () -> l.backward(new Tensor(new int[] {2, 4}, new float[8])), l.name());
      Tensor out = l.call(new Tensor(new int[] {2, 4}, new float[] {1, 2, 3, 4, 5, 6, 7, 9}), true);
      int[] s = out.shape();
      Tensor wrong = new Tensor(new int[] {s[1], s[0]}, new float[out.size()]);
      if (s[0] != s[1]) assertThrows(IllegalArgumentException.class, () -> l.backward(wrong), l.name());
      assertThrows(IllegalArgumentException.class, () -> l.backward(new Tensor(new int[] {1, s[1]}, new float[s[1]])), l.name());
      assertArrayEquals(new int[] {2, 4}, l.backward(new Tensor(s, new float[out.size()])).shape(), l.name());
    }
  }
}
