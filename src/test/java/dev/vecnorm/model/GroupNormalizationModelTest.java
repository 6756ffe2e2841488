package dev.vecnorm.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vecnorm.layers.Dense;
import dev.vecnorm.layers.GroupNormalization;
import dev.vecnorm.layers.Initializer;
import dev.vecnorm.layers.Regularizer;
import dev.vecnorm.layers.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** GroupNormalization in the model API: ModelIO round trip, Keras config reading and the model's regularization loss. */
class GroupNormalizationModelTest {

  @TempDir Path dir;

  private static Sequential model() {
    return new Sequential(new Dense(8, true, Initializer.glorotUniform(1), Initializer.zeros(), null, "d1"),
        GroupNormalization.builder().groups(4).name("gn").gammaRegularizer(Regularizer.l2(0.5)).betaRegularizer(Regularizer.l1(0.25)).build(),
        new Dense(3, true, Initializer.glorotUniform(2), Initializer.zeros(), null, "d2"));
  }

  @Test
  void savesAndLoadsWithIdenticalPredictionsAndItsRegularizationCounts() throws IOException {
    Tensor[] data = SequentialTest.blobs(30, 4);
    Sequential model = model();
    model.compile(Optimizer.sgd(0.05), Loss.sparseCategoricalCrossentropy(true), List.of());
    model.fit(data[0], data[1], FitOptions.defaults().epochs(1).verbose(0)); // gamma and beta move off ones and zeros
    Path saved = dir.resolve("m");
    ModelIO.save(model, saved);
    Sequential loaded = ModelIO.load(saved);

    assertArrayEquals(model.predict(data[0], 8).data(), loaded.predict(data[0], 8).data());
    GroupNormalization gn = assertInstanceOf(GroupNormalization.class, loaded.layers().get(1));
    GroupNormalization original = (GroupNormalization) model.layers().get(1);
    assertEquals(original.getConfig(), gn.getConfig());
    assertArrayEquals(original.gamma(), gn.gamma());
    assertArrayEquals(original.beta(), gn.beta());
    assertTrue(KerasConfig.SUPPORTED.contains("GroupNormalization"));

    // Keras's penalties in double, from the loaded weights: 0.5 * sum gamma^2 + 0.25 * sum |beta|.
    double expected = 0;
    for (float g : gn.gamma()) expected += 0.5 * (double) g * g;
    for (float b : gn.beta()) expected += 0.25 * Math.abs((double) b);
    loaded.compile(Optimizer.sgd(0.05), Loss.sparseCategoricalCrossentropy(true), List.of());
    double dataLoss = loaded.evaluate(data[0], data[1], 30).get("loss");
    double withRegularization = loaded.trainOnBatch(data[0], data[1], null);
    assertEquals(expected, withRegularization - dataLoss, 1e-5 * (1 + expected), "GroupNormalization's regularization loss");
  }
}
