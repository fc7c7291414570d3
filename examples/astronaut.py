"""prosopo on the sample photos that ship with scikit-image (no face data to
download): Eileen Collins, the astronaut, and the "cameraman". Detection,
verification, embeddings, a small gallery and attribute analysis; it writes
astronaut-annotated.jpg, the face it found drawn and labelled.

    python examples/astronaut.py
"""

import tempfile

import numpy as np
from skimage import data

import prosopo

astronaut, cameraman = data.astronaut(), data.camera()

faces = prosopo.detect(astronaut)
print(f"astronaut: {len(faces)} face(s), first at {faces[0].box.to_dict()} (score {faces[0].score:.2f})")

# the same person: the photo mirrored and shrunk
other_view = np.ascontiguousarray(astronaut[::2, ::-2])
same = prosopo.verify(astronaut, other_view)
print(f"astronaut vs mirrored half-size copy: verified={same.verified} distance={same.distance:.3f} "
      f"(threshold {same.threshold:.3f})")

different = prosopo.verify(astronaut, cameraman)
print(f"astronaut vs cameraman: verified={different.verified} distance={different.distance:.3f}")

embedding = prosopo.represent(astronaut)[0].embedding
print(f"embedding: {embedding.shape[0]} floats, first three {', '.join(f'{v:.3f}' for v in embedding[:3])}")

# 1:N: a gallery (here a throwaway folder) with a consent record, then who is this?
with tempfile.TemporaryDirectory() as folder:
    with prosopo.Gallery.open(folder, purpose="demo", legal_basis="public sample image") as gallery:
        gallery.enroll("Eileen Collins", astronaut)
        for name, photo in (("mirrored copy", other_view), ("cameraman", cameraman)):
            result = gallery.identify(photo)[0]
            print(f"identify {name}: {result.identity or 'unknown'}"
                  + (f" (distance {result.match.distance:.3f})" if result.known else ""))
        print(f"audit log intact: {gallery.verify_audit().ok}, entries: {len(gallery.audit())}")

# attributes: age, gender and expression (race only when asked for by name)
face = prosopo.analyze(astronaut)[0]
print(f"analyze: age {face.age:.0f} (80% range {face.age_range[0]:.0f}-{face.age_range[1]:.0f}), "
      f"{face.dominant_gender} ({face.gender[face.dominant_gender]:.0%}), "
      f"{face.dominant_emotion} ({face.emotion[face.dominant_emotion]:.0%}), reliable={face.reliable}")

# a picture to open: the face boxed, with its landmarks and the analysis
from prosopo.draw import draw_faces  # noqa: E402

label = f"{face.dominant_gender}, about {face.age:.0f}, {face.dominant_emotion}"
draw_faces(astronaut, [face.face], "astronaut-annotated.jpg", labels=[label])
print("drawn to astronaut-annotated.jpg")
