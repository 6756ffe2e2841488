package dev.vecnorm;

import java.util.SplittableRandom;
import java.util.function.Function;
import org.opentest4j.AssertionFailedError;

/**
 * A small property-test runner on JUnit Jupiter: {@code tries} cases drawn from a seeded generator,
 * each checked; a failure names the property, the seed, the try and the case, so it can be rerun
 * alone. The seed is fixed per property (the default test run is reproducible); set
 * {@code -Dvecnorm.propertySeed=N} to explore other cases.
 *
 * <p>Written here instead of taking jqwik: from 1.10 jqwik's maintainers ask that it not be used by
 * AI coding agents, which write much of this project (see the report that added this class).
 */
final class PropertyCheck {
  private PropertyCheck() {}

  @FunctionalInterface
  interface Check<T> {
    void check(T value) throws Exception;
  }

  static <T> void forAll(String property, int tries, Function<SplittableRandom, T> generator, Check<T> check) {
    long base = Long.getLong("vecnorm.propertySeed", property.hashCode());
    for (int t = 0; t < tries; t++) {
      long seed = base * 0x9E3779B97F4A7C15L + t; // one stream per try, so a failing try reruns alone
      T value = generator.apply(new SplittableRandom(seed));
      try {
        check.check(value);
      } catch (Throwable e) {
        String shown = value instanceof Object[] a ? java.util.Arrays.deepToString(a) : String.valueOf(value);
        throw new AssertionFailedError(property + " failed at try " + t + " (-Dvecnorm.propertySeed=" + base + ") for " + shown
            + ": " + e.getMessage(), e);
      }
    }
  }

  /** One of {@code values}. */
  @SafeVarargs
  static <T> T oneOf(SplittableRandom r, T... values) {
    return values[r.nextInt(values.length)];
  }

  /** A dimension biased to the awkward sizes around vector widths: 1, 8 and 16 lanes +-1, 17, 1023. */
  static int dimension(SplittableRandom r, int max) {
    int[] awkward = {1, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 1023};
    int d = r.nextInt(3) < 2 ? awkward[r.nextInt(awkward.length)] : 1 + r.nextInt(64);
    return Math.max(1, Math.min(d, max));
  }
}
