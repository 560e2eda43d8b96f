// The profile photo goes from the browser straight to S3: the page draws the picture on a canvas
// and saves it again as JPEG (no side over data-max-side pixels, and no metadata: a camera's EXIF
// holds where the picture was taken), the app signs the upload, the browser posts the file to the
// bucket (with a progress bar), then the app verifies and attaches it.
(function () {
  var root = document.querySelector("[data-photo-upload]");
  if (!root) return;
  var input = document.getElementById("photo-file");
  var progress = document.getElementById("photo-progress");
  var bar = progress.querySelector(".progress-bar");
  var status = document.getElementById("photo-status");
  var photo = document.getElementById("photo");
  var noPhoto = document.getElementById("no-photo");
  var remove = document.getElementById("photo-remove");
  var text = root.dataset;
  var types = text.types.split(",");

  function say(message, failed) {
    status.textContent = message;
    status.className = "mt-2 " + (failed ? "text-danger" : "text-success");
  }

  function setProgress(percent) {
    bar.style.width = percent + "%";
    progress.setAttribute("aria-valuenow", String(percent));
  }

  function api(method, url, body) {
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    }).then(function (response) {
      if (response.status === 204) return null;
      return response.json().then(function (data) {
        if (!response.ok) throw new Error((data && data.detail) || text.msgFailed);
        return data;
      });
    });
  }

  function upload(signed, file) {
    return new Promise(function (resolve, reject) {
      var form = new FormData();
      Object.keys(signed.fields).forEach(function (name) {
        form.append(name, signed.fields[name]);
      });
      form.append("file", file); // S3 wants the file last
      var request = new XMLHttpRequest();
      request.open("POST", signed.url);
      request.upload.onprogress = function (event) {
        if (event.lengthComputable) setProgress(Math.round((event.loaded * 100) / event.total));
      };
      request.onload = function () {
        request.status >= 200 && request.status < 300 ? resolve() : reject(new Error(text.msgFailed));
      };
      request.onerror = function () {
        reject(new Error(text.msgFailed));
      };
      request.send(form);
    });
  }

  function reencode(file) {
    return createImageBitmap(file).then(
      function (image) {
        var scale = Math.min(1, Number(text.maxSide) / Math.max(image.width, image.height));
        var canvas = document.createElement("canvas");
        canvas.width = Math.max(1, Math.round(image.width * scale));
        canvas.height = Math.max(1, Math.round(image.height * scale));
        var context = canvas.getContext("2d");
        context.fillStyle = "#fff"; // JPEG has no transparency
        context.fillRect(0, 0, canvas.width, canvas.height);
        context.drawImage(image, 0, 0, canvas.width, canvas.height);
        image.close();
        return new Promise(function (resolve, reject) {
          canvas.toBlob(
            function (blob) {
              blob ? resolve(blob) : reject(new Error(text.msgType));
            },
            "image/jpeg",
            0.9
          );
        });
      },
      function () {
        throw new Error(text.msgType); // not a picture the browser can read
      }
    );
  }

  function show(url) {
    photo.src = url || "";
    photo.hidden = !url;
    noPhoto.hidden = !!url;
    remove.hidden = !url;
  }

  input.addEventListener("change", function () {
    var file = input.files[0];
    if (!file) return;
    if (types.indexOf(file.type) < 0) return say(text.msgType, true);
    progress.hidden = false;
    setProgress(0);
    say(text.msgUploading, false);
    reencode(file)
      .then(function (picture) {
        if (picture.size > Number(text.maxBytes)) throw new Error(text.msgSize);
        return api("POST", "/api/v1/me/photo-uploads", { contentType: picture.type }).then(
          function (signed) {
            return upload(signed, picture).then(function () {
              return api("PUT", "/api/v1/me/photo", { key: signed.key });
            });
          }
        );
      })
      .then(function (attached) {
        setProgress(100);
        show(attached.url);
        say(text.msgDone, false);
      })
      .catch(function (error) {
        progress.hidden = true;
        say(error.message, true);
      })
      .finally(function () {
        input.value = "";
      });
  });

  remove.addEventListener("click", function () {
    api("DELETE", "/api/v1/me/photo")
      .then(function () {
        show(null);
        progress.hidden = true;
        say(text.msgRemoved, false);
      })
      .catch(function (error) {
        say(error.message, true);
      });
  });
})();
