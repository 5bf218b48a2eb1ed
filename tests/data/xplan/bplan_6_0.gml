<?xml version="1.0" encoding="UTF-8"?>
<!-- A small XPlanGML 6.0 B-Plan in Dortmund, made for landreg's tests (srsName as URN, EPSG:25832).
     Its BP_Bereich has a geltungsbereich (a gml:Surface with a PolygonPatch), 200 m x 100 m, which is
     the plan area; the Gemeinde is given by its Regionalschlüssel (rs) only. Baugebiete: an MU
     (north half) and a GE (south half); a Baugebiet "sonstiges" (9999) names no use. -->
<xplan:XPlanAuszug xmlns:xplan="http://www.xplanung.de/xplangml/6/0" xmlns:gml="http://www.opengis.net/gml/3.2"
    xmlns:xlink="http://www.w3.org/1999/xlink" gml:id="GML_auszug60">
  <gml:featureMember>
    <xplan:BP_Plan gml:id="GML_plan60">
      <xplan:name>B-Plan 612 Urbanes Quartier Westfalenhütte</xplan:name>
      <xplan:nummer>612</xplan:nummer>
      <xplan:raeumlicherGeltungsbereich>
        <gml:Polygon gml:id="GML_plan60_poly" srsName="urn:ogc:def:crs:EPSG::25832">
          <gml:exterior><gml:LinearRing><gml:posList>395000 5710000 395200 5710000 395200 5710100 395000 5710100 395000 5710000</gml:posList></gml:LinearRing></gml:exterior>
        </gml:Polygon>
      </xplan:raeumlicherGeltungsbereich>
      <xplan:gemeinde>
        <xplan:XP_Gemeinde><xplan:rs>059130000000</xplan:rs><xplan:gemeindeName>Dortmund</xplan:gemeindeName></xplan:XP_Gemeinde>
      </xplan:gemeinde>
      <xplan:planArt>1000</xplan:planArt>
      <xplan:rechtsstand>2000</xplan:rechtsstand>
      <xplan:aufstellungsbeschlussDatum>2025-09-30</xplan:aufstellungsbeschlussDatum>
      <xplan:bereich xlink:href="#GML_bereich60"/>
    </xplan:BP_Plan>
  </gml:featureMember>
  <gml:featureMember>
    <xplan:BP_Bereich gml:id="GML_bereich60">
      <xplan:nummer>0</xplan:nummer>
      <xplan:geltungsbereich>
        <gml:Surface gml:id="GML_bereich60_surface" srsName="urn:ogc:def:crs:EPSG::25832">
          <gml:patches><gml:PolygonPatch>
            <gml:exterior><gml:LinearRing><gml:posList>395000 5710000 395200 5710000 395200 5710100 395000 5710100 395000 5710000</gml:posList></gml:LinearRing></gml:exterior>
          </gml:PolygonPatch></gml:patches>
        </gml:Surface>
      </xplan:geltungsbereich>
      <xplan:gehoertZuPlan xlink:href="#GML_plan60"/>
    </xplan:BP_Bereich>
  </gml:featureMember>
  <gml:featureMember>
    <xplan:BP_BaugebietsTeilFlaeche gml:id="GML_mu">
      <xplan:rechtscharakter>1000</xplan:rechtscharakter>
      <xplan:gehoertZuBereich xlink:href="#GML_bereich60"/>
      <xplan:position>
        <gml:MultiSurface gml:id="GML_mu_geom" srsName="urn:ogc:def:crs:EPSG::25832">
          <gml:surfaceMember><gml:Polygon gml:id="GML_mu_poly">
            <gml:exterior><gml:LinearRing><gml:posList>395000 5710050 395200 5710050 395200 5710100 395000 5710100 395000 5710050</gml:posList></gml:LinearRing></gml:exterior>
          </gml:Polygon></gml:surfaceMember>
        </gml:MultiSurface>
      </xplan:position>
      <xplan:flaechenschluss>true</xplan:flaechenschluss>
      <xplan:allgArtDerBaulNutzung>2000</xplan:allgArtDerBaulNutzung>
      <xplan:besondereArtDerBaulNutzung>1550</xplan:besondereArtDerBaulNutzung>
    </xplan:BP_BaugebietsTeilFlaeche>
  </gml:featureMember>
  <gml:featureMember>
    <xplan:BP_BaugebietsTeilFlaeche gml:id="GML_ge">
      <xplan:rechtscharakter>1000</xplan:rechtscharakter>
      <xplan:gehoertZuBereich xlink:href="#GML_bereich60"/>
      <xplan:position>
        <gml:MultiSurface gml:id="GML_ge_geom" srsName="urn:ogc:def:crs:EPSG::25832">
          <gml:surfaceMember><gml:Polygon gml:id="GML_ge_poly">
            <gml:exterior><gml:LinearRing><gml:posList>395000 5710000 395200 5710000 395200 5710050 395000 5710050 395000 5710000</gml:posList></gml:LinearRing></gml:exterior>
          </gml:Polygon></gml:surfaceMember>
        </gml:MultiSurface>
      </xplan:position>
      <xplan:flaechenschluss>true</xplan:flaechenschluss>
      <xplan:allgArtDerBaulNutzung>3000</xplan:allgArtDerBaulNutzung>
      <xplan:besondereArtDerBaulNutzung>1700</xplan:besondereArtDerBaulNutzung>
    </xplan:BP_BaugebietsTeilFlaeche>
  </gml:featureMember>
  <gml:featureMember>
    <xplan:BP_BaugebietsTeilFlaeche gml:id="GML_sonst">
      <xplan:rechtscharakter>1000</xplan:rechtscharakter>
      <xplan:gehoertZuBereich xlink:href="#GML_bereich60"/>
      <xplan:position>
        <gml:Polygon gml:id="GML_sonst_poly" srsName="urn:ogc:def:crs:EPSG::25832">
          <gml:exterior><gml:LinearRing><gml:posList>395000 5710000 395010 5710000 395010 5710010 395000 5710000</gml:posList></gml:LinearRing></gml:exterior>
        </gml:Polygon>
      </xplan:position>
      <xplan:flaechenschluss>false</xplan:flaechenschluss>
      <xplan:allgArtDerBaulNutzung>9999</xplan:allgArtDerBaulNutzung>
    </xplan:BP_BaugebietsTeilFlaeche>
  </gml:featureMember>
</xplan:XPlanAuszug>
