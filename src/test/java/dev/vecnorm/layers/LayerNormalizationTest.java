package dev.vecnorm.layers;

import static dev.vecnorm.NormTesting.assertGradient;
import static dev.vecnorm.NormTesting.centralDifferences;
import static dev.vecnorm.NormTesting.normalizedRows;
import static dev.vecnorm.NormTesting.toDouble;
import static dev.vecnorm.NormTesting.weightedSum;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.function.DoubleSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Keras 3 semantics of LayerNormalization against a double reference written from the definition. */
class LayerNormalizationTest {

  /** Reference: per sample over the trailing {@code features} elements; rms: no centering. */
  static double[] reference(double[] x, int features, double[] gamma, double[] beta, double eps, boolean rms) {
    return normalizedRows(x, features, gamma, beta, eps, rms);
  }

  @Test
  void defaultsFollowKeras() {
    LayerNormalization ln = LayerNormalization.create();
    Map<String, Object> c = ln.getConfig();
    assertEquals(-1.0, c.get("axis"));
    assertEquals(1e-3, c.get("epsilon"));
    assertEquals(true, c.get("center"));
    assertEquals(true, c.get("scale"));
    assertEquals(false, c.get("rms_scaling"));
    ln.build(new int[] {2, 5});
    assertEquals(List.of("gamma", "beta"), ln.parameters().stream().map(Parameter::name).toList());
    assertArrayEquals(new float[] {1, 1, 1, 1, 1}, ln.gamma());
    assertArrayEquals(new float[5], ln.beta());
    LayerNormalization rms = LayerNormalization.builder().rmsScaling(true).build();
    rms.build(new int[] {2, 5});
    assertEquals(List.of("gamma"), rms.parameters().stream().map(Parameter::name).toList(), "rms_scaling: gamma only, as Keras");
    LayerNormalization none = LayerNormalization.builder().center(false).scale(false).build();
    none.build(new int[] {2, 5});
    assertTrue(none.parameters().isEmpty());
  }

  @ParameterizedTest(name = "rms={0}")
  @ValueSource(booleans = {false, true})
  void forwardMatchesReferenceOverTrailingAxesInTrainingAndInference(boolean rms) {
    int[] dims = {3, 4, 9};
    float[] x = LayerReference.random(3 * 4 * 9, 1.5, 2, 5);
    for (Object axis : List.of(-1, new int[] {-2, -1}, new int[] {1, 2})) {
      LayerNormalization.Builder b = LayerNormalization.builder().rmsScaling(rms).epsilon(1e-4);
      if (axis instanceof Integer a) b.axis(a);
      else b.axis((int[]) axis);
      LayerNormalization ln = b.build();
      ln.build(dims);
      int features = ln.features();
      assertEquals(axis instanceof Integer ? 9 : 36, features);
      float[] g = LayerReference.random(features, 1, 0.5, 6), be = LayerReference.random(features, 0, 1, 7);
      ln.setWeights(rms ? List.of(g) : List.of(g, be));
      double[] ref = reference(toDouble(x), features, toDouble(g), rms ? null : toDouble(be), 1e-4, rms);
      for (boolean training : new boolean[] {true, false}) {
        float[] y = ln.call(new Tensor(dims, x), training).data();
        for (int i = 0; i < y.length; i++) {
          assertTrue(Math.abs(ref[i] - y[i]) <= 1e-4 * (1 + Math.abs(ref[i])), "y[" + i + "] " + ref[i] + " vs " + y[i]);
        }
      }
    }
  }

  /** Central differences of L = Σ w·y on the double reference (h = 1e-5); gradients within 1e-3 of their largest magnitude. */
  @ParameterizedTest(name = "rms={0}")
  @ValueSource(booleans = {false, true})
  void backwardMatchesFiniteDifferences(boolean rms) {
    int[] dims = {4, 2, 5};
    int features = 10;
    float[] x = LayerReference.random(40, 0.3, 1, 11), w = LayerReference.random(40, 0, 1, 12);
    float[] g = LayerReference.random(features, 1, 0.5, 13), be = LayerReference.random(features, 0, 1, 14);
    LayerNormalization ln = LayerNormalization.builder().axis(-2, -1).rmsScaling(rms).build();
    ln.build(dims);
    ln.setWeights(rms ? List.of(g) : List.of(g, be));
    ln.call(new Tensor(dims, x), true);
    float[] dx = ln.backward(new Tensor(dims, w)).data();
    double[] gd = toDouble(g), bd = rms ? null : toDouble(be);
    double h = 1e-5;
    double[] xd = toDouble(x);
    float[] xs = x.clone();
    DoubleSupplier loss = () -> weightedSum(toDouble(w), reference(xd, features, gd, bd, 1e-3, rms)); // the layer's default epsilon
    assertGradient("dx", centralDifferences(xd, null, h, loss), dx, 0, null, 1e-3, 1e-9);
    assertGradient("dGamma", centralDifferences(gd, null, h, loss), ln.parameters().get(0).grad(), 0, null, 1e-3, 1e-9);
    if (!rms) assertGradient("dBeta", centralDifferences(bd, null, h, loss), ln.parameters().get(1).grad(), 0, null, 1e-3, 1e-9);
    assertArrayEquals(xs, x, "input unchanged");
  }

  @Test
  void unsupportedAxesAreRejectedByName() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> LayerNormalization.builder().axis(1).build().build(new int[] {2, 3, 4}));
    assertTrue(e.getMessage().contains("trailing"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> LayerNormalization.builder().axis(0, 1).build().build(new int[] {2, 3}));
    assertTrue(e.getMessage().contains("batch axis"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> LayerNormalization.builder().axis(3).build().build(new int[] {2, 3}));
    assertTrue(e.getMessage().contains("out of range"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> LayerNormalization.builder().axis(-1, 2).build().build(new int[] {2, 3, 4}));
    assertTrue(e.getMessage().contains("twice"), e.getMessage());
    LayerNormalization ln = LayerNormalization.create();
    ln.build(new int[] {2, 4});
    assertThrows(IllegalArgumentException.class, () -> ln.call(new Tensor(new int[] {2, 5}, new float[10]), true));
    assertThrows(IllegalArgumentException.class, () -> LayerNormalization.builder().epsilon(0).build());
    assertThrows(IllegalStateException.class, () -> LayerNormalization.create().backward(new Tensor(new int[] {1, 1}, new float[1])));
  }

  @Test
  void configRoundTripsThroughJsonWithKerasKeys() {
    for (LayerNormalization ln : List.of(
        LayerNormalization.builder().axis(-2, -1).epsilon(1e-5).center(false).gammaRegularizer(Regularizer.l2(0.1))
            .betaConstraint(Constraint.nonNeg()).gammaInitializer(Initializer.constant(2)).name("ln_a").build(),
        LayerNormalization.builder().axis(2).rmsScaling(true).trainable(false).name("ln_b").build())) {
      LayerNormalization copy = LayerReference.assertConfigRoundTrip(ln, LayerNormalization::fromConfig, List.of("axis", "epsilon",
          "center", "scale", "rms_scaling", "beta_initializer", "gamma_initializer", "beta_regularizer", "gamma_regularizer",
          "beta_constraint", "gamma_constraint", "trainable", "name", "dtype"));
      assertEquals(ln.rmsScaling(), copy.rmsScaling());
      assertArrayEquals(ln.axes(), copy.axes());
    }
    assertThrows(IllegalArgumentException.class, () -> LayerNormalization.fromConfig(Map.of("axsi", 1.0)));
    assertThrows(IllegalArgumentException.class, () -> LayerNormalization.fromConfig(Map.of("axis", 1.5)));
    LayerNormalization keras = LayerNormalization.fromConfig(Map.of("axis", List.of(-1.0), "epsilon", 1e-6, "rms_scaling", true));
    assertArrayEquals(new int[] {-1}, keras.axes());
    assertTrue(keras.rmsScaling());
    assertFalse(LayerNormalization.fromConfig(Map.of()).rmsScaling());
    assertNull(LayerNormalization.fromConfig(Map.of()).gamma(), "unbuilt");
  }
}
