package dev.vecnorm;

import dev.vecnorm.internal.VectorizationProvider;
import java.util.ArrayList;
import java.util.List;

/** The kernel implementations every parameterized test runs through. */
final class Implementations {
  private Implementations() {}

  static List<Kernels> all() {
    List<Kernels> list = new ArrayList<>();
    list.add(new Kernels(VectorizationProvider.scalar()));
    VectorizationProvider.panama().ifPresent(p -> list.add(new Kernels(p)));
    return list;
  }
}
