package dev.vecnorm.layers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vecnorm.io.Json;
import dev.vecnorm.model.FitOptions;
import dev.vecnorm.model.History;
import dev.vecnorm.model.Loss;
import dev.vecnorm.model.ModelIO;
import dev.vecnorm.model.Optimizer;
import dev.vecnorm.model.Sequential;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * tfa.layers.WeightNormalization around Dense against a double-precision transcription of tfa's
 * algorithm (w = g v / ||v|| per unit column; g = ||v|| or tfa's data-dependent init on the first
 * batch). Tolerances: outputs and initialized weights 1e-4 relative; gradients within 1e-3 (relative to
 * max(1, |g|)) of central differences of the reference loss.
 */
class WeightNormalizationTest {

  static final int IN = 5, UNITS = 4, BATCH = 6;

  /** y = act(x (g v / ||v||) + b) in double; act is tanh or identity. */
  static double[] reference(double[] x, double[] v, double[] g, double[] b, boolean tanh, int batch) {
    double[] y = new double[batch * UNITS];
    for (int c = 0; c < UNITS; c++) {
      double sq = 0;
      for (int r = 0; r < IN; r++) sq += v[r * UNITS + c] * v[r * UNITS + c];
      double scale = g[c] / Math.sqrt(sq);
      for (int i = 0; i < batch; i++) {
        double t = b[c];
        for (int r = 0; r < IN; r++) t += x[i * IN + r] * v[r * UNITS + c] * scale;
        y[i * UNITS + c] = tanh ? Math.tanh(t) : t;
      }
    }
    return y;
  }

  static double[] d(float[] a) {
    return LayerReference.toDouble(a);
  }

  static void close(double expected, double actual, double tol, String what) {
    if (!(Math.abs(expected - actual) <= tol * Math.max(1, Math.abs(expected)))) {
      throw new AssertionError(what + ": expected " + expected + " +- " + tol + " (relative), got " + actual);
    }
  }

  static Dense dense(String activation) {
    return Dense.builder(UNITS).activation(activation).kernelInitializer(Initializer.randomNormal(0, 0.7, 11))
        .biasInitializer(Initializer.randomNormal(0, 0.3, 12)).build();
  }

  @Test
  void withoutDataInitGStartsAtTheColumnNormsSoTheLayerStartsAsItsDense() {
    WeightNormalization wn = new WeightNormalization(dense("linear"), false);
    float[] x = LayerReference.random(BATCH * IN, 0, 1, 1);
    wn.build(new int[] {BATCH, IN});
    float[] v = wn.layer().parameters().get(0).value().clone(), b = wn.layer().parameters().get(1).value().clone();
    assertFalse(wn.isInitialized());
    float[] y = wn.call(new Tensor(new int[] {BATCH, IN}, x), false).data();
    assertTrue(wn.isInitialized());
    for (int c = 0; c < UNITS; c++) {
      double sq = 0;
      for (int r = 0; r < IN; r++) sq += (double) v[r * UNITS + c] * v[r * UNITS + c];
      close(Math.sqrt(sq), wn.g()[c], 1e-6, "g[" + c + "]");
    }
    double[] expected = reference(d(x), d(v), d(wn.g()), d(b), false, BATCH);
    for (int i = 0; i < expected.length; i++) close(expected[i], y[i], 1e-5, "y[" + i + "]");
    // The effective kernel is v itself (to float rounding): the plain Dense.
    float[] w = wn.effectiveKernel();
    for (int i = 0; i < w.length; i++) assertEquals(v[i], w[i], 1e-6f * Math.max(1, Math.abs(v[i])));
  }

  @Test
  void dataInitIsTfasOnTheFirstBatchAndOnlyThere() {
    WeightNormalization wn = new WeightNormalization(dense("linear"));
    assertTrue(wn.dataInit(), "tfa's default");
    float[] x = LayerReference.random(BATCH * IN, 1, 2, 2);
    wn.build(new int[] {BATCH, IN});
    float[] v = wn.layer().parameters().get(0).value().clone(), b0 = wn.layer().parameters().get(1).value().clone();
    float[] y = wn.call(new Tensor(new int[] {BATCH, IN}, x), true).data();
    // tfa: t = x v + b with the raw kernel; g = 1 / sqrt(var(t) + 1e-10); bias = -mean(t) * g.
    double[] g = new double[UNITS], bias = new double[UNITS];
    for (int c = 0; c < UNITS; c++) {
      double[] t = new double[BATCH];
      double m = 0, var = 0;
      for (int i = 0; i < BATCH; i++) {
        t[i] = b0[c];
        for (int r = 0; r < IN; r++) t[i] += (double) x[i * IN + r] * v[r * UNITS + c];
        m += t[i] / BATCH;
      }
      for (int i = 0; i < BATCH; i++) var += (t[i] - m) * (t[i] - m) / BATCH;
      g[c] = 1 / Math.sqrt(var + 1e-10);
      bias[c] = -m * g[c];
      close(g[c], wn.g()[c], 1e-4, "g[" + c + "]");
      close(bias[c], wn.layer().parameters().get(1).value()[c], 1e-4, "bias[" + c + "]");
    }
    double[] expected = reference(d(x), d(v), g, bias, false, BATCH);
    for (int i = 0; i < expected.length; i++) close(expected[i], y[i], 1e-4, "y[" + i + "]");
    // A second batch does not initialize again.
    float[] gAfter = wn.g().clone();
    wn.call(new Tensor(new int[] {BATCH, IN}, LayerReference.random(BATCH * IN, -3, 5, 3)), true);
    assertArrayEquals(gAfter, wn.g());
  }

  @ParameterizedTest(name = "activation {0}")
  @ValueSource(strings = {"linear", "tanh"})
  void gradientsToXvGAndBiasMatchFiniteDifferences(String activation) {
    boolean tanh = activation.equals("tanh");
    WeightNormalization wn = new WeightNormalization(dense(activation), false);
    float[] x = LayerReference.random(BATCH * IN, 0, 1, 4), up = LayerReference.random(BATCH * UNITS, 0, 1, 5);
    wn.call(new Tensor(new int[] {BATCH, IN}, x), true);
    // Move g away from ||v|| so the v gradient's projection term matters.
    for (int c = 0; c < UNITS; c++) wn.g()[c] *= 1.5f + 0.25f * c;
    wn.call(new Tensor(new int[] {BATCH, IN}, x), true);
    wn.parameters().forEach(Parameter::zeroGrad);
    float[] dx = wn.backward(new Tensor(new int[] {BATCH, UNITS}, up)).data();
    Parameter g = wn.parameters().get(0), kernel = wn.parameters().get(1), bias = wn.parameters().get(2);
    assertEquals(List.of("g", "kernel", "bias", "initialized"), wn.parameters().stream().map(Parameter::name).toList());
    double[] xd = d(x), vd = d(kernel.value()), gd = d(g.value()), bd = d(bias.value());
    double h = 1e-6;
    double[][] args = {xd, vd, gd, bd};
    float[][] analytic = {dx, kernel.grad(), g.grad(), bias.grad()};
    String[] names = {"dx", "dv", "dg", "dbias"};
    for (int a = 0; a < 4; a++) {
      for (int k = 0; k < args[a].length; k++) {
        double keep = args[a][k];
        args[a][k] = keep + h;
        double lp = loss(reference(xd, vd, gd, bd, tanh, BATCH), up);
        args[a][k] = keep - h;
        double lm = loss(reference(xd, vd, gd, bd, tanh, BATCH), up);
        args[a][k] = keep;
        close((lp - lm) / (2 * h), analytic[a][k], 1e-3, names[a] + "[" + k + "]");
      }
    }
    // Frozen: input gradient only.
    wn.parameters().forEach(Parameter::zeroGrad);
    wn.setTrainable(false);
    assertTrue(wn.trainableParameters().isEmpty());
    assertArrayEquals(dx, wn.backward(new Tensor(new int[] {BATCH, UNITS}, up)).data());
    for (Parameter p : wn.parameters()) for (float q : p.grad()) assertEquals(0f, q, p.name());
  }

  private static double loss(double[] y, float[] up) {
    double l = 0;
    for (int i = 0; i < y.length; i++) l += y[i] * up[i];
    return l;
  }

  @Test
  void trainsInSequentialFitWithRegularizerAndSurvivesModelIo(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
    Dense inner = Dense.builder(8).activation("tanh").kernelInitializer(Initializer.glorotUniform(7))
        .kernelRegularizer(Regularizer.l2(1e-3)).name("inner").build();
    Sequential model = new Sequential(new WeightNormalization(inner, true, "wn"), Dense.seeded(1, 9));
    model.compile(Optimizer.adam(0.01), Loss.meanSquaredError(), List.of());
    int n = 64;
    float[] x = LayerReference.random(n * 3, 0, 1, 8), y = new float[n];
    for (int i = 0; i < n; i++) y[i] = (float) Math.sin(x[i * 3] + 0.5 * x[i * 3 + 1] * x[i * 3 + 2]);
    History h = model.fit(new Tensor(new int[] {n, 3}, x), new Tensor(new int[] {n, 1}, y), FitOptions.defaults().batchSize(16).epochs(40).verbose(0));
    List<Double> losses = h.get("loss");
    assertTrue(losses.get(losses.size() - 1) < 0.5 * losses.get(0), "loss " + losses.get(0) + " -> " + losses.get(losses.size() - 1));
    WeightNormalization wn = (WeightNormalization) model.layers().get(0);
    assertTrue(wn.regularizationLoss() > 0, "the Dense's kernel regularizer applies to v");
    // Round trip through vecnorm's own files: same predictions, and no second initialization.
    Tensor probe = new Tensor(new int[] {4, 3}, LayerReference.random(12, 0, 1, 10));
    float[] before = model.predict(probe, 4).data();
    ModelIO.save(model, dir);
    assertTrue(Files.readString(dir.resolve("config.json")).contains("\"data_init\""));
    Sequential loaded = ModelIO.load(dir);
    assertArrayEquals(before, loaded.predict(probe, 4).data());
    assertThrows(IllegalStateException.class, () -> dev.vecnorm.model.KerasConfig.toConfig(model));
  }

  @Test
  @SuppressWarnings("unchecked")
  void configRoundTripsWithTfaNames() {
    WeightNormalization wn = new WeightNormalization(Dense.builder(3).activation("relu").name("d").build(), false, "wn");
    Map<String, Object> config = wn.getConfig();
    assertEquals(false, config.get("data_init"));
    assertEquals("Dense", ((Map<String, Object>) config.get("layer")).get("class_name"));
    String json = Json.write(config);
    WeightNormalization copy = WeightNormalization.fromConfig((Map<String, Object>) Json.parse(json));
    assertEquals(json, Json.write(copy.getConfig()));
    // tfa in tf.keras 2 registers the class as Addons>WeightNormalization and serializes the inner layer with module keys.
    Map<String, Object> tfa = (Map<String, Object>) Json.parse(json);
    ((Map<String, Object>) tfa.get("layer")).put("module", "keras.layers");
    ((Map<String, Object>) tfa.get("layer")).put("registered_name", null);
    tfa.remove("data_init");
    WeightNormalization fromTfa = (WeightNormalization) ModelIO.layerFromConfig("Addons>WeightNormalization", tfa);
    assertTrue(fromTfa.dataInit(), "data_init defaults to True as in tfa");
    assertEquals("relu", fromTfa.layer().activation());
    Map<String, Object> conv = new LinkedHashMap<>(tfa);
    conv.put("layer", Map.of("class_name", "Conv2D", "config", Map.of()));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> WeightNormalization.fromConfig(conv));
    assertTrue(e.getMessage().contains("Conv2D"), e.getMessage());
    Map<String, Object> typo = new LinkedHashMap<>(tfa);
    typo.put("data_int", true);
    assertThrows(IllegalArgumentException.class, () -> WeightNormalization.fromConfig(typo));
    IllegalStateException keras3 = assertThrows(IllegalStateException.class, wn::kerasConfig);
    assertTrue(keras3.getMessage().contains("Keras 3"), keras3.getMessage());
  }

  @Test
  void readsATfKeras2ModelConfigWithTfaWeightNormAndGhostBatchNorm() {
    // The layout tf.keras 2.x + tfa write into model_config: the first layer carries batch_input_shape.
    String json = """
        {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
          {"class_name": "Addons>WeightNormalization", "config": {"name": "wn", "trainable": true, "dtype": "float32",
            "batch_input_shape": [null, 3], "data_init": true,
            "layer": {"class_name": "Dense", "config": {"name": "dense", "trainable": true, "dtype": "float32", "units": 4,
              "activation": "linear", "use_bias": true,
              "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": null}},
              "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": null, "bias_regularizer": null,
              "activity_regularizer": null, "kernel_constraint": null, "bias_constraint": null}}}},
          {"class_name": "BatchNormalization", "config": {"name": "bn", "trainable": true, "dtype": "float32", "axis": -1,
            "momentum": 0.99, "epsilon": 0.001, "center": true, "scale": true,
            "beta_initializer": {"class_name": "Zeros", "config": {}}, "gamma_initializer": {"class_name": "Ones", "config": {}},
            "moving_mean_initializer": {"class_name": "Zeros", "config": {}},
            "moving_variance_initializer": {"class_name": "Ones", "config": {}}, "beta_regularizer": null,
            "gamma_regularizer": null, "beta_constraint": null, "gamma_constraint": null, "virtual_batch_size": 2}}]}}
        """;
    dev.vecnorm.model.Model m = dev.vecnorm.model.KerasConfig.fromConfig(Json.parse(json));
    assertTrue(m.layers().get(0) instanceof WeightNormalization wn && wn.dataInit() && wn.layer().units() == 4);
    assertEquals(2, ((BatchNormalization) m.layers().get(1)).virtualBatchSize());
    assertEquals(3, m.inputShape()[m.inputShape().length - 1]);
  }

  @Test
  void misuseIsRefusedByName() {
    Dense built = new Dense(2);
    built.build(new int[] {1, 3});
    assertThrows(IllegalArgumentException.class, () -> new WeightNormalization(built));
    assertThrows(NullPointerException.class, () -> new WeightNormalization(null));
    WeightNormalization wn = new WeightNormalization(new Dense(2), false);
    assertThrows(IllegalArgumentException.class, () -> wn.build(new int[] {4, 3, 2}));
    assertFalse(wn.isBuilt());
    assertThrows(IllegalStateException.class, () -> wn.backward(new Tensor(new int[] {1, 2}, new float[2])));
  }
}
