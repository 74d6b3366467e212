@failure-mode @scenario-mdm-scope-none
Feature: MDM scope none
  The Intune MDM user scope is None; the join succeeds but the device is never enrolled (MdmUrl empty).
  Guide section: Intune not enrolling

  Scenario: MDM scope none: the symptom
    Given the scenario "mdm-scope-none"
    When the user tries to join the PC as the scenario describes
    When the user restarts the PC and signs in with the Entra account
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : YES"
    And the output shows "MdmUrl :"
    And the output shows "MdmComplianceUrl :"
    And the device is joined
    And the device is not enrolled in Intune

  Scenario: MDM scope none: the fix repairs it
    Given the scenario "mdm-scope-none"
    When the user tries to join the PC as the scenario describes
    And the admin applies the scenario's fix
    And the user disconnects if needed and joins again
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : YES"
    And the output shows "MdmUrl : https://enrollment.manage.microsoft.com/enrollmentserver/discovery.svc"
    And the device is joined
    And the device is enrolled in Intune
