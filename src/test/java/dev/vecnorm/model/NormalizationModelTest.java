package dev.vecnorm.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vecnorm.layers.Dense;
import dev.vecnorm.layers.GroupNormalization;
import dev.vecnorm.layers.Initializer;
import dev.vecnorm.layers.Layer;
import dev.vecnorm.layers.LayerNormalization;
import dev.vecnorm.layers.Regularizer;
import dev.vecnorm.layers.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * LayerNormalization and GroupNormalization in the model API: ModelIO round trip, Keras config
 * support and the model's regularization loss. (BatchNormalization is left out: its inference uses the
 * moving statistics, so evaluate and trainOnBatch differ by more than the regularization.)
 */
class NormalizationModelTest {

  @TempDir Path dir;

  static Stream<Arguments> layers() {
    Supplier<Layer> ln = () -> LayerNormalization.builder().name("norm").gammaRegularizer(Regularizer.l2(0.5))
        .betaRegularizer(Regularizer.l1(0.25)).build();
    Supplier<Layer> gn = () -> GroupNormalization.builder().groups(4).name("norm").gammaRegularizer(Regularizer.l2(0.5))
        .betaRegularizer(Regularizer.l1(0.25)).build();
    return Stream.of(Arguments.of("LayerNormalization", ln), Arguments.of("GroupNormalization", gn));
  }

  private static Sequential model(Layer norm) {
    return new Sequential(new Dense(8, true, Initializer.glorotUniform(1), Initializer.zeros(), null, "d1"), norm,
        new Dense(3, true, Initializer.glorotUniform(2), Initializer.zeros(), null, "d2"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("layers")
  void savesAndLoadsWithIdenticalPredictionsAndItsRegularizationCounts(String className, Supplier<Layer> layer) throws IOException {
    Tensor[] data = SequentialTest.blobs(30, 4);
    Sequential model = model(layer.get());
    model.compile(Optimizer.sgd(0.05), Loss.sparseCategoricalCrossentropy(true), List.of());
    // One epoch so that gamma and beta are no longer their initial ones and zeros.
    model.fit(data[0], data[1], FitOptions.defaults().epochs(1).verbose(0));
    Path saved = dir.resolve("m");
    ModelIO.save(model, saved);
    Sequential loaded = ModelIO.load(saved);

    // Same config and weights, so the same float operations: bit-identical predictions.
    assertArrayEquals(model.predict(data[0], 8).data(), loaded.predict(data[0], 8).data());
    Layer norm = loaded.layers().get(1), original = model.layers().get(1);
    assertSame(original.getClass(), norm.getClass());
    assertEquals(className, norm.className());
    assertTrue(KerasConfig.SUPPORTED.contains(className));
    assertEquals(original.getConfig(), norm.getConfig());
    List<float[]> weights = norm.getWeights(), originalWeights = original.getWeights();
    assertEquals(2, weights.size(), "gamma and beta");
    assertArrayEquals(originalWeights.get(0), weights.get(0), "gamma");
    assertArrayEquals(originalWeights.get(1), weights.get(1), "beta");

    // Keras's penalties in double, from the loaded weights: 0.5 * sum gamma^2 + 0.25 * sum |beta|.
    double expected = 0;
    boolean betaMoved = false;
    for (float g : weights.get(0)) expected += 0.5 * (double) g * g;
    for (float b : weights.get(1)) {
      expected += 0.25 * Math.abs((double) b);
      betaMoved |= b != 0;
    }
    assertTrue(betaMoved, "training must have moved beta, or its L1 term would not be tested");
    // trainOnBatch returns the data loss plus regularization before its step; evaluate returns the data loss
    // alone, and both layers compute the same in training and inference, so the difference is the
    // regularization (0 if the model did not sum the layer's penalties).
    loaded.compile(Optimizer.sgd(0.05), Loss.sparseCategoricalCrossentropy(true), List.of());
    double dataLoss = loaded.evaluate(data[0], data[1], 30).get("loss");
    double withRegularization = loaded.trainOnBatch(data[0], data[1], null);
    assertEquals(expected, withRegularization - dataLoss, 1e-5 * (1 + expected), className + "'s regularization loss");
  }
}
