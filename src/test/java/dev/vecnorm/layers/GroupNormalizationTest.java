package dev.vecnorm.layers;

import static dev.vecnorm.NormTesting.assertGradient;
import static dev.vecnorm.NormTesting.centralDifferences;
import static dev.vecnorm.NormTesting.normalized;
import static dev.vecnorm.NormTesting.toDouble;
import static dev.vecnorm.NormTesting.weightedSum;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.function.DoubleSupplier;
import org.junit.jupiter.api.Test;

/** Keras 3 semantics of GroupNormalization against a double reference written from the definition. */
class GroupNormalizationTest {

  /**
   * Reference on a row-major tensor {@code dims} with channels on {@code axis}: per sample and group of
   * consecutive channels, over those channels at every other non-batch index.
   */
  static double[] reference(double[] x, int[] dims, int axis, int groups, double[] gamma, double[] beta, double eps) {
    int a = axis < 0 ? axis + dims.length : axis, c = dims[a], cpg = c / groups, mid = 1, inner = 1;
    for (int i = 1; i < a; i++) mid *= dims[i];
    for (int i = a + 1; i < dims.length; i++) inner *= dims[i];
    double[] y = new double[x.length], group = new double[cpg * mid * inner];
    int[] at = new int[group.length];
    for (int n = 0; n < dims[0]; n++) {
      for (int g = 0; g < groups; g++) {
        int j = 0;
        for (int k = 0; k < mid; k++) {
          for (int ch = g * cpg; ch < (g + 1) * cpg; ch++) for (int i = 0; i < inner; i++) at[j++] = ((n * mid + k) * c + ch) * inner + i;
        }
        for (j = 0; j < group.length; j++) group[j] = x[at[j]];
        double[] xhat = normalized(group, eps, false, null);
        for (j = 0; j < group.length; j++) {
          int ch = at[j] / inner % c;
          y[at[j]] = xhat[j] * (gamma == null ? 1 : gamma[ch]) + (beta == null ? 0 : beta[ch]);
        }
      }
    }
    return y;
  }

  @Test
  void defaultsFollowKeras() {
    GroupNormalization gn = GroupNormalization.create();
    Map<String, Object> c = gn.getConfig();
    assertEquals(32.0, c.get("groups"));
    assertEquals(-1.0, c.get("axis"));
    assertEquals(1e-3, c.get("epsilon"));
    assertEquals(true, c.get("center"));
    assertEquals(true, c.get("scale"));
    assertEquals("Zeros", ((Map<?, ?>) c.get("beta_initializer")).get("class_name"));
    assertEquals("Ones", ((Map<?, ?>) c.get("gamma_initializer")).get("class_name"));
    gn.build(new int[] {2, 3, 3, 64});
    assertEquals(List.of("gamma", "beta"), gn.parameters().stream().map(Parameter::name).toList());
    float[] ones = new float[64];
    java.util.Arrays.fill(ones, 1f);
    assertArrayEquals(ones, gn.gamma());
    assertArrayEquals(new float[64], gn.beta());
    GroupNormalization none = GroupNormalization.builder().groups(2).center(false).scale(false).build();
    none.build(new int[] {2, 4});
    assertTrue(none.parameters().isEmpty());
  }

  @Test
  void forwardMatchesReferenceChannelsLastAndFirstInTrainingAndInference() {
    for (Object[] c : new Object[][] {{new int[] {3, 4, 5, 6}, -1, 3}, {new int[] {3, 6, 4, 5}, 1, 2}, {new int[] {2, 7, 12}, -1, 12},
        {new int[] {2, 12, 7}, 1, 4}, {new int[] {4, 9}, -1, 3}, {new int[] {4, 9}, 1, 1}}) {
      int[] dims = (int[]) c[0];
      int axis = (int) c[1], groups = (int) c[2], size = 1;
      for (int d : dims) size *= d;
      int channels = dims[axis < 0 ? axis + dims.length : axis];
      float[] x = LayerReference.random(size, 1.5, 2, 5), g = LayerReference.random(channels, 1, 0.5, 6), b = LayerReference.random(channels, 0, 1, 7);
      GroupNormalization gn = GroupNormalization.builder().groups(groups).axis(axis).epsilon(1e-4).build();
      gn.build(dims);
      gn.setWeights(List.of(g, b));
      double[] ref = reference(toDouble(x), dims, axis, groups, toDouble(g), toDouble(b), 1e-4);
      for (boolean training : new boolean[] {true, false}) {
        float[] y = gn.call(new Tensor(dims, x), training).data();
        for (int i = 0; i < y.length; i++) {
          assertTrue(Math.abs(ref[i] - y[i]) <= 1e-4 * (1 + Math.abs(ref[i])),
              java.util.Arrays.toString(dims) + " axis " + axis + ": y[" + i + "] " + ref[i] + " vs " + y[i]);
        }
      }
    }
  }

  @Test
  void groupsMinusOneIsInstanceNormAndBecomesTheChannelCount() {
    int[] dims = {2, 5, 8};
    GroupNormalization gn = GroupNormalization.instanceNormalization(1);
    assertEquals(-1.0, gn.getConfig().get("groups"));
    float[] x = LayerReference.random(80, -2, 3, 9);
    float[] y = gn.call(new Tensor(dims, x), true).data();
    assertEquals(5, gn.groups(), "as Keras's build: groups = channels");
    assertEquals(5.0, gn.getConfig().get("groups"));
    double[] ref = reference(toDouble(x), dims, 1, 5, null, null, 1e-3);
    for (int i = 0; i < y.length; i++) assertTrue(Math.abs(ref[i] - y[i]) <= 1e-4 * (1 + Math.abs(ref[i])), "y[" + i + "]");
  }

  /** Central differences of L = Σ w·y on the double reference (h = 1e-5); gradients within 1e-3 of their largest magnitude. */
  @Test
  void backwardMatchesFiniteDifferences() {
    for (int axis : new int[] {-1, 1}) {
      int[] dims = axis == -1 ? new int[] {2, 3, 4} : new int[] {2, 4, 3};
      int size = 24, channels = 4, groups = 2;
      float[] x = LayerReference.random(size, 0.3, 1, 11), w = LayerReference.random(size, 0, 1, 12);
      float[] g = LayerReference.random(channels, 1, 0.5, 13), be = LayerReference.random(channels, 0, 1, 14);
      GroupNormalization gn = GroupNormalization.builder().groups(groups).axis(axis).build();
      gn.build(dims);
      gn.setWeights(List.of(g, be));
      gn.call(new Tensor(dims, x), true);
      float[] dx = gn.backward(new Tensor(dims, w)).data();
      double[] xd = toDouble(x), gd = toDouble(g), bd = toDouble(be);
      double h = 1e-5;
      // L = Σ w·y with y from the double reference at epsilon 1e-3 (the layer's default).
      DoubleSupplier loss = () -> weightedSum(toDouble(w), reference(xd, dims, axis, groups, gd, bd, 1e-3));
      assertGradient("dx axis " + axis, centralDifferences(xd, null, h, loss), dx, 0, null, 1e-3, 1e-9);
      assertGradient("dGamma axis " + axis, centralDifferences(gd, null, h, loss), gn.parameters().get(0).grad(), 0, null, 1e-3, 1e-9);
      assertGradient("dBeta axis " + axis, centralDifferences(bd, null, h, loss), gn.parameters().get(1).grad(), 0, null, 1e-3, 1e-9);
    }
  }

  @Test
  void badGroupsAndAxesAreRejectedByName() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GroupNormalization.create().build(new int[] {2, 4, 4, 48}));
    assertTrue(e.getMessage().contains("groups = 32") && e.getMessage().contains("48"), e.getMessage()); // 48 % 32 != 0
    e = assertThrows(IllegalArgumentException.class, () -> GroupNormalization.create().build(new int[] {2, 16}));
    assertTrue(e.getMessage().contains("cannot be more than the number of channels (16"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> GroupNormalization.builder().groups(2).axis(2).build().build(new int[] {2, 3, 4, 5}));
    assertTrue(e.getMessage().contains("not supported"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> GroupNormalization.builder().groups(2).axis(0).build().build(new int[] {2, 4}));
    assertTrue(e.getMessage().contains("batch axis"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> GroupNormalization.builder().groups(1).axis(3).build().build(new int[] {2, 4}));
    assertTrue(e.getMessage().contains("out of range"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> GroupNormalization.builder().groups(0).build());
    assertTrue(e.getMessage().contains("groups"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> GroupNormalization.builder().epsilon(0).build());
    GroupNormalization gn = GroupNormalization.builder().groups(2).build();
    gn.build(new int[] {2, 3, 4});
    assertThrows(IllegalArgumentException.class, () -> gn.call(new Tensor(new int[] {2, 3, 6}, new float[36]), true));
    float[] y = gn.call(new Tensor(new int[] {1, 5, 4}, LayerReference.random(20, 0, 1, 3)), true).data(); // other spatial sizes are fine
    assertEquals(20, y.length);
    assertThrows(IllegalStateException.class, () -> GroupNormalization.create().backward(new Tensor(new int[] {1, 1}, new float[1])));
  }

  @Test
  void configRoundTripsThroughJsonWithKerasKeys() {
    for (GroupNormalization gn : List.of(
        GroupNormalization.builder().groups(8).axis(1).epsilon(1e-5).center(false).gammaRegularizer(Regularizer.l2(0.1))
            .betaConstraint(Constraint.nonNeg()).gammaInitializer(Initializer.constant(2)).name("gn_a").build(),
        GroupNormalization.builder().groups(-1).trainable(false).name("gn_b").build())) {
      GroupNormalization copy = LayerReference.assertConfigRoundTrip(gn, GroupNormalization::fromConfig, List.of("groups", "axis",
          "epsilon", "center", "scale", "beta_initializer", "gamma_initializer", "beta_regularizer", "gamma_regularizer",
          "beta_constraint", "gamma_constraint", "trainable", "name", "dtype"));
      assertEquals(gn.groups(), copy.groups());
      assertEquals(gn.axis(), copy.axis());
    }
    // As Keras 3 writes it (keys of GroupNormalization.get_config plus the base ones).
    GroupNormalization keras = GroupNormalization.fromConfig(Map.of("name", "group_normalization", "trainable", true, "dtype", "float32",
        "groups", 4.0, "axis", -1.0, "epsilon", 0.001, "center", true, "scale", true));
    assertEquals(4, keras.groups());
    assertEquals(32, GroupNormalization.fromConfig(Map.of()).groups());
    assertThrows(IllegalArgumentException.class, () -> GroupNormalization.fromConfig(Map.of("group", 4.0)));
    assertThrows(IllegalArgumentException.class, () -> GroupNormalization.fromConfig(Map.of("groups", 1.5)));
    assertThrows(IllegalArgumentException.class, () -> GroupNormalization.fromConfig(Map.of("groups", 0.0)));
  }
}
