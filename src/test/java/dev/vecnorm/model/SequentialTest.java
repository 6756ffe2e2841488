package dev.vecnorm.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vecnorm.layers.Activation;
import dev.vecnorm.layers.BatchNormalization;
import dev.vecnorm.layers.Dense;
import dev.vecnorm.layers.Initializer;
import dev.vecnorm.layers.Tensor;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SequentialTest {

  @TempDir Path dir;

  /** Two Gaussian blobs per class in 2-D, linearly separable with margin. */
  static Tensor[] blobs(int n, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] x = new float[n * 2], y = new float[n];
    for (int i = 0; i < n; i++) {
      int label = i % 3;
      double angle = label * 2 * Math.PI / 3;
      x[2 * i] = (float) (3 * Math.cos(angle) + 0.5 * r.nextGaussian());
      x[2 * i + 1] = (float) (3 * Math.sin(angle) + 0.5 * r.nextGaussian());
      y[i] = label;
    }
    return new Tensor[] {new Tensor(new int[] {n, 2}, x), new Tensor(new int[] {n}, y)};
  }

  static Sequential model() {
    return new Sequential(new Dense(16, false, Initializer.glorotUniform(1), Initializer.zeros(), null, "d1"),
        BatchNormalization.builder().name("bn").build(), Activation.tanh(),
        new Dense(3, true, Initializer.glorotUniform(2), Initializer.zeros(), null, "d2"));
  }

  @Test
  void trainingReachesHighAccuracyAndIsDeterministic() {
    Tensor[] data = blobs(300, 7);
    Sequential a = model(), b = model();
    for (Sequential m : List.of(a, b)) m.compile(Optimizer.sgd(0.1, 0.9, true), Loss.sparseCategoricalCrossentropy(true), List.of("accuracy"));
    History h = a.fit(data[0], data[1], FitOptions.defaults().epochs(15).batchSize(32).validationSplit(0.2).seed(3).verbose(0));
    b.fit(data[0], data[1], FitOptions.defaults().epochs(15).batchSize(32).validationSplit(0.2).seed(3).verbose(0));
    assertTrue(h.get("val_accuracy").get(14) >= 0.97, "val accuracy " + h.get("val_accuracy"));
    assertTrue(h.get("loss").get(14) < h.get("loss").get(0), "loss decreases");
    List<List<float[]>> wa = a.getWeights(), wb = b.getWeights();
    for (int i = 0; i < wa.size(); i++) for (int j = 0; j < wa.get(i).size(); j++) assertArrayEquals(wa.get(i).get(j), wb.get(i).get(j));
  }

  @Test
  void adamAlsoLearns() {
    Tensor[] data = blobs(240, 9);
    Sequential m = model();
    m.compile(Optimizer.adam(0.01), Loss.sparseCategoricalCrossentropy(true), List.of("accuracy"));
    m.fit(data[0], data[1], FitOptions.defaults().epochs(10).batchSize(24).verbose(0));
    assertTrue(m.evaluate(data[0], data[1], 64).get("accuracy") >= 0.97);
  }

  /** d(loss)/d(x) of the whole stack (Dense, BN, tanh, Dense, cross-entropy) by central differences. */
  @Test
  void gradientsThroughTheStackMatchFiniteDifferences() {
    Tensor[] data = blobs(12, 5);
    Sequential m = model();
    m.compile(Optimizer.sgd(1e-9), Loss.sparseCategoricalCrossentropy(true), List.of());
    m.build(12, 2);
    Dense first = (Dense) m.layers().get(0);
    float[] w = first.parameters().get(0).value();
    // Analytic gradient of the kernel of the first Dense: one step with a tiny lr leaves w ~unchanged.
    float[] before = w.clone();
    m.trainOnBatch(data[0], data[1], null);
    float[] grad = first.parameters().get(0).grad().clone();
    System.arraycopy(before, 0, w, 0, w.length);
    for (int i = 0; i < w.length; i += 5) {
      float saved = w[i];
      w[i] = saved + 1e-2f;
      double up = lossOf(m, data);
      w[i] = saved - 1e-2f;
      double down = lossOf(m, data);
      w[i] = saved;
      double fd = (up - down) / 2e-2;
      assertEquals(fd, grad[i], 2e-3 * (1 + Math.abs(fd)), "dW[" + i + "]");
    }
  }

  static double lossOf(Sequential m, Tensor[] data) {
    Tensor out = m.forward(data[0], true);
    return Loss.sparseCategoricalCrossentropy(true).compute(out, data[1], new float[out.size()]);
  }

  @Test
  void saveAndLoadGiveBitIdenticalPredictions() throws Exception {
    Tensor[] data = blobs(90, 11);
    Sequential m = model();
    m.compile(Optimizer.sgd(0.05), Loss.sparseCategoricalCrossentropy(true), List.of("accuracy"));
    m.fit(data[0], data[1], FitOptions.defaults().epochs(2).verbose(0));
    ModelIO.save(m, dir.resolve("model"));
    Sequential loaded = ModelIO.load(dir.resolve("model"));
    assertArrayEquals(m.predict(data[0], 32).data(), loaded.predict(data[0], 32).data());
    assertTrue(java.nio.file.Files.readString(dir.resolve("model/config.json")).contains("\"moving_variance_initializer\""));
  }

  @Test
  void foldingBatchNormIntoDenseKeepsPredictions() {
    Tensor[] data = blobs(150, 13);
    Sequential m = model();
    m.compile(Optimizer.sgd(0.1), Loss.sparseCategoricalCrossentropy(true), List.of("accuracy"));
    m.fit(data[0], data[1], FitOptions.defaults().epochs(3).verbose(0));
    Sequential folded = m.foldBatchNormForInference();
    assertEquals(m.layers().size() - 1, folded.layers().size(), "Dense + BN became one Dense");
    float[] expected = m.predict(data[0], 64).data(), actual = folded.predict(data[0], 64).data();
    for (int i = 0; i < expected.length; i++) assertEquals(expected[i], actual[i], 1e-4 * (1 + Math.abs(expected[i])), "logit " + i);
    assertArrayEquals(expected, m.predict(data[0], 64).data(), "the original model is untouched");
  }

  @Test
  void fitRejectsBadArgumentsClearly() {
    Sequential m = model();
    m.compile(Optimizer.sgd(0.1), Loss.sparseCategoricalCrossentropy(true), List.of("accuracy"));
    Tensor[] data = blobs(10, 1);
    assertThrows(IllegalArgumentException.class, () -> FitOptions.defaults().batchSize(0));
    IllegalArgumentException mismatch = assertThrows(IllegalArgumentException.class,
        () -> m.fit(data[0], new Tensor(new int[] {9}, new float[9]), FitOptions.defaults().verbose(0)));
    assertTrue(mismatch.getMessage().contains("10") && mismatch.getMessage().contains("9"), mismatch.getMessage());
    assertThrows(IllegalArgumentException.class, () -> m.fit(new Tensor(new int[] {0, 2}, new float[0]), new Tensor(new int[] {0}, new float[0]),
        FitOptions.defaults().verbose(0)));
    m.build(10, 2);
    IllegalArgumentException label = assertThrows(IllegalArgumentException.class,
        () -> m.fit(data[0], new Tensor(new int[] {10}, new float[] {0, 1, 2, 3, 0, 1, 2, 0, 1, 2}), FitOptions.defaults().verbose(0)));
    assertTrue(label.getMessage().contains("[0, 3)"), label.getMessage());
    assertThrows(IllegalStateException.class, () -> model().fit(data[0], data[1], FitOptions.defaults()));
    assertThrows(IllegalArgumentException.class, () -> m.compile(Optimizer.sgd(0.1), Loss.meanSquaredError(), List.of("f1")));
  }

  @Test
  void earlyStoppingStopsWhenValidationStopsImproving() {
    Tensor[] data = blobs(120, 2);
    Sequential m = model();
    m.compile(Optimizer.sgd(0.1), Loss.sparseCategoricalCrossentropy(true), List.of("accuracy"));
    EarlyStopping stop = Callback.earlyStopping("val_loss", 10.0, 1, false); // nothing improves by 10
    int[] epochs = {0};
    History h = m.fit(data[0], data[1], FitOptions.defaults().epochs(20).validationSplit(0.25).verbose(0).callback(stop)
        .callback(new Callback() {
          @Override
          public void onEpochEnd(int epoch, java.util.Map<String, Double> logs) {
            epochs[0]++;
          }
        }));
    assertEquals(2, h.epochs(), "as Keras: the first epoch sets the best, the next one without improvement reaches patience 1");
    assertEquals(2, epochs[0]);
  }
}
