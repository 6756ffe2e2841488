package dev.vecnorm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vecnorm.internal.VectorizationProvider;
import org.junit.jupiter.api.Test;

/** Fails the build when the run expected the Vector API (the pom sets this) but silently got scalar. */
class ProviderTest {

  @Test
  void vectorImplementationIsUsedWhenExpected() {
    boolean expected = Boolean.parseBoolean(System.getProperty("vecnorm.expectVector", "false"));
    if (expected) {
      assertEquals("panama", BatchNorm.implementationName(),
          "vecnorm.expectVector=true but the scalar kernels were chosen; is --add-modules jdk.incubator.vector on the test JVM?");
      assertTrue(VectorizationProvider.panama().isPresent());
      assertEquals(2, Implementations.all().size(), "tests must run both implementations");
    }
  }
}
