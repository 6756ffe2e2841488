package dev.vecnorm.internal;

import static org.junit.jupiter.api.Assertions.assertSame;

import org.junit.jupiter.api.Test;

/** The scratch pool must keep both arrays of a call that borrows two and gives back the smaller first. */
class ScratchTest {

  @Test
  void keepsBothArraysWhenTheSmallerComesBackFirst() {
    // Drain the pool so the test sees only its own arrays (other tests in this JVM may have left some).
    float[][] drained = new float[16][];
    for (int i = 0; i < drained.length; i++) drained[i] = Scratch.borrow(1);
    try {
      float[] large = Scratch.borrow(40_000), small = Scratch.borrow(30_000);
      Scratch.release(small);
      Scratch.release(large);
      // The next call in the same order must get the same two arrays back: no allocation per call.
      float[] large2 = Scratch.borrow(40_000), small2 = Scratch.borrow(30_000);
      assertSame(large, large2, "the larger array was not kept");
      assertSame(small, small2, "the smaller array was evicted by the larger one and allocated again");
      Scratch.release(small2);
      Scratch.release(large2);
    } finally {
      for (float[] a : drained) Scratch.release(a);
    }
  }
}
