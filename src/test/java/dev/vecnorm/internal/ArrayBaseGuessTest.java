package dev.vecnorm.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.vecnorm.ChildJvm;
import java.lang.reflect.Field;
import org.junit.jupiter.api.Test;

/**
 * The kernels' guess of where a {@code float[]}'s element 0 sits ({@link PanamaBatchNormSupport#ARRAY_BASE_BYTES}, which
 * places the line-aligned heads) against the VM's real array layout, in fresh JVMs with the object layouts HotSpot
 * offers. A wrong guess changes no result (the heads only move where elementwise vectors start), only speed, so no
 * other test would notice it.
 */
class ArrayBaseGuessTest {

  /** Prints the guess and the VM's own answer (sun.misc.Unsafe, in this child only: it warns on stderr). */
  public static final class Child {
    public static void main(String[] args) throws Exception {
      // By reflection: the tests compile as part of the library's module, which does not read jdk.unsupported.
      Class<?> unsafe = Class.forName("sun.misc.Unsafe");
      Field f = unsafe.getDeclaredField("theUnsafe");
      f.setAccessible(true);
      int real = (int) unsafe.getMethod("arrayBaseOffset", Class.class).invoke(f.get(null), float[].class);
      System.out.println(PanamaBatchNormSupport.ARRAY_BASE_BYTES + " " + real);
    }
  }

  private static void assertGuessIsRight(String... layout) throws Exception {
    String[] args = new String[layout.length + 3];
    args[0] = "--add-modules";
    args[1] = "jdk.incubator.vector";
    args[2] = "-XX:+IgnoreUnrecognizedVMOptions"; // a JDK that drops an option runs its default layout: still checked
    System.arraycopy(layout, 0, args, 3, layout.length);
    String[] guessAndReal = ChildJvm.run(Child.class, 60, args).stdout().split(" ");
    assertEquals(guessAndReal[1], guessAndReal[0], "float[] base offset guessed / real, layout " + String.join(" ", layout));
  }

  @Test
  void defaultLayout() throws Exception {
    assertGuessIsRight();
  }

  @Test
  void compactObjectHeaders() throws Exception {
    assertGuessIsRight("-XX:+UseCompactObjectHeaders");
  }

  @Test
  void noCompressedClassPointers() throws Exception {
    assertGuessIsRight("-XX:-UseCompressedClassPointers", "-Xshare:off");
  }
}
