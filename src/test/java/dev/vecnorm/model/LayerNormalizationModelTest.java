package dev.vecnorm.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vecnorm.layers.Dense;
import dev.vecnorm.layers.Initializer;
import dev.vecnorm.layers.LayerNormalization;
import dev.vecnorm.layers.Regularizer;
import dev.vecnorm.layers.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** LayerNormalization in the model API: ModelIO round trip and the model's regularization loss. */
class LayerNormalizationModelTest {

  @TempDir Path dir;

  private static Sequential model() {
    return new Sequential(new Dense(8, true, Initializer.glorotUniform(1), Initializer.zeros(), null, "d1"),
        LayerNormalization.builder().name("ln").gammaRegularizer(Regularizer.l2(0.5)).betaRegularizer(Regularizer.l1(0.25)).build(),
        new Dense(3, true, Initializer.glorotUniform(2), Initializer.zeros(), null, "d2"));
  }

  @Test
  void savesAndLoadsWithIdenticalPredictionsAndItsRegularizationCounts() throws IOException {
    Tensor[] data = SequentialTest.blobs(30, 4);
    Sequential model = model();
    model.compile(Optimizer.sgd(0.05), Loss.sparseCategoricalCrossentropy(true), List.of());
    // One epoch so that gamma and beta are no longer their initial ones and zeros.
    model.fit(data[0], data[1], FitOptions.defaults().epochs(1).verbose(0));
    Path saved = dir.resolve("m");
    ModelIO.save(model, saved);
    Sequential loaded = ModelIO.load(saved);

    // Same config and weights, so the same float operations: bit-identical predictions.
    assertArrayEquals(model.predict(data[0], 8).data(), loaded.predict(data[0], 8).data());
    LayerNormalization ln = assertInstanceOf(LayerNormalization.class, loaded.layers().get(1));
    LayerNormalization original = (LayerNormalization) model.layers().get(1);
    assertEquals(original.getConfig(), ln.getConfig());
    assertArrayEquals(original.gamma(), ln.gamma());
    assertArrayEquals(original.beta(), ln.beta());

    // Keras's penalties in double, from the loaded weights: 0.5 * sum gamma^2 + 0.25 * sum |beta|.
    double expected = 0;
    boolean betaMoved = false;
    for (float g : ln.gamma()) expected += 0.5 * (double) g * g;
    for (float b : ln.beta()) {
      expected += 0.25 * Math.abs((double) b);
      betaMoved |= b != 0;
    }
    assertTrue(betaMoved, "training must have moved beta, or its L1 term would not be tested");
    // trainOnBatch returns the data loss plus regularization before its step; evaluate returns the data loss
    // alone, and LayerNormalization computes the same in training and inference, so the difference is the
    // regularization (0 if the model did not sum LayerNormalization's penalties).
    loaded.compile(Optimizer.sgd(0.05), Loss.sparseCategoricalCrossentropy(true), List.of());
    double dataLoss = loaded.evaluate(data[0], data[1], 30).get("loss");
    double withRegularization = loaded.trainOnBatch(data[0], data[1], null);
    assertEquals(expected, withRegularization - dataLoss, 1e-5 * (1 + expected), "LayerNormalization's regularization loss");
  }
}
